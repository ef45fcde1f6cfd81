import { jsonAudioFrame } from './audio-stream.connection';

describe('jsonAudioFrame', () => {
  it.each([0, 1, 2, 3, 4, 5, 6000])(
    'should be the JSON audio message for %i bytes (padding included)',
    (length) => {
      const backing = Uint8Array.from({ length: length + 7 }, (_, i) => (i * 37 + 11) & 0xff);
      const data = backing.subarray(3, 3 + length); // a view with an offset, as the replay log hands out
      const frame = jsonAudioFrame(42, data);

      const message = JSON.parse(frame.toString('utf8')) as { type: string; seq: number; data: string };
      expect(message).toEqual({ type: 'audio', seq: 42, data: Buffer.from(data).toString('base64') });
      expect(Buffer.from(message.data, 'base64').equals(Buffer.from(data))).toBe(true);
      expect(frame.length).toBe(Buffer.byteLength(JSON.stringify(message)));
    },
  );
});
