import { PcmEncoderFactory } from './pcm.encoders';

const pcm = Int16Array.from([0, 1000, -1000, 32767, -32768]);

describe(PcmEncoderFactory.name, () => {
  const factory = new PcmEncoderFactory();

  it('should stream WAV with one header holding 0xFFFFFFFF sizes, then raw samples', async () => {
    const encoder = factory.create({ format: 'wav', sampleRate: 16000 });
    const first = Buffer.from(await encoder.encode(pcm));
    const second = Buffer.from(await encoder.encode(pcm));
    expect(first.subarray(0, 4).toString()).toBe('RIFF');
    expect(first.readUInt32LE(4)).toBe(0xffffffff);
    expect(first.readUInt32LE(24)).toBe(16000);
    expect(first.readUInt32LE(40)).toBe(0xffffffff);
    expect(first.length).toBe(44 + 10);
    expect(second.length).toBe(10);
    expect((await encoder.flush()).length).toBe(0);
  });

  it('should write exact RIFF sizes for a whole file', async () => {
    const encoder = factory.create({ format: 'wav', sampleRate: 8000, wholeFile: true });
    expect((await encoder.encode(pcm)).length).toBe(0);
    await encoder.encode(pcm);
    const file = Buffer.from(await encoder.flush());
    expect(file.length).toBe(44 + 20);
    expect(file.readUInt32LE(4)).toBe(file.length - 8);
    expect(file.readUInt32LE(40)).toBe(20);
  });

  it('should copy pcm16 bytes little-endian', async () => {
    const bytes = Buffer.from(await factory.create({ format: 'pcm16', sampleRate: 24000 }).encode(pcm));
    expect(bytes.readInt16LE(6)).toBe(32767);
    expect(bytes.readInt16LE(8)).toBe(-32768);
  });
});
