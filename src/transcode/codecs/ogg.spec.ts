import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { TempFiles } from '../testing/audio-check';
import { OGG_FLAG_BOS, lacingCount, oggCrc32, oggPage, opusHead, opusTags, parseOggPages } from './ogg';

describe('oggPage', () => {
  const temp = new TempFiles();
  afterAll(() => temp.cleanup());

  it('should compute the same CRC as libogg on pages ffmpeg wrote', () => {
    const file = `${temp.dir}/ref.opus`;
    execFileSync('ffmpeg', [
      '-v',
      'error',
      '-f',
      'lavfi',
      '-i',
      'sine=frequency=440:duration=1',
      '-c:a',
      'libopus',
      file,
    ]);
    const pages = parseOggPages(readFileSync(file));
    expect(pages.length).toBeGreaterThan(2);
    expect(pages.every((p) => p.crcOk)).toBe(true);
  });

  it('should not be zlib crc32 (unreflected polynomial, init 0)', () => {
    // zlib crc32("123456789") is 0xCBF43926; the Ogg CRC of the same bytes is 0x89A1897F.
    expect(oggCrc32(new TextEncoder().encode('123456789'))).toBe(0x89a1897f);
  });

  it('should detect a corrupted page', () => {
    const page = oggPage({ packets: [new Uint8Array([1, 2, 3])], granule: 960, serial: 7, sequence: 2 });
    expect(parseOggPages(page)[0].crcOk).toBe(true);
    page[page.length - 1] ^= 0xff;
    expect(parseOggPages(page)[0].crcOk).toBe(false);
  });

  it('should lace packets of 255 bytes or more with extra 255 values', () => {
    expect([0, 254, 255, 256, 510, 600].map(lacingCount)).toEqual([1, 1, 2, 2, 3, 3]);
    const packets = [
      new Uint8Array(255).fill(1),
      new Uint8Array(600).fill(2),
      new Uint8Array(0),
      new Uint8Array(10),
    ];
    const page = oggPage({
      packets,
      granule: 2 ** 40 + 5,
      serial: 0xdeadbeef,
      sequence: 9,
      flags: OGG_FLAG_BOS,
    });
    expect(Array.from(page.subarray(27, 27 + page[26]))).toEqual([255, 0, 255, 255, 90, 0, 10]);
    const [parsed] = parseOggPages(page);
    expect(parsed.packets.map((p) => p.length)).toEqual([255, 600, 0, 10]);
    expect(parsed).toMatchObject({
      granule: 2 ** 40 + 5,
      serial: 0xdeadbeef,
      sequence: 9,
      flags: OGG_FLAG_BOS,
    });
  });

  it('should refuse more than 255 lacing values on one page', () => {
    const packets = Array.from({ length: 128 }, () => new Uint8Array(300)); // 2 lacing values each
    expect(() => oggPage({ packets, granule: 0, serial: 1, sequence: 0 })).toThrow(RangeError);
  });

  it('should write OpusHead and OpusTags as RFC 7845 lays them out', () => {
    const head = opusHead(312, 24000);
    const view = new DataView(head.buffer);
    expect(new TextDecoder().decode(head.subarray(0, 8))).toBe('OpusHead');
    expect([head[8], head[9], view.getUint16(10, true), view.getUint32(12, true), head[18]]).toEqual([
      1, 1, 312, 24000, 0,
    ]);
    const tags = opusTags('vendor');
    expect(new TextDecoder().decode(tags.subarray(0, 8))).toBe('OpusTags');
    expect(new DataView(tags.buffer).getUint32(8, true)).toBe(6);
    expect(tags.length).toBe(8 + 4 + 6 + 4);
  });
});
