/** WAVE format tags used in `fmt `. */
export const WAVE_FORMAT_PCM = 1;
export const WAV_HEADER_BYTES = 44;

/**
 * A 44-byte canonical RIFF/WAVE header for mono PCM16. With `dataBytes` undefined the sizes are 0xFFFFFFFF,
 * the convention for streamed WAV (OpenAI, Kokoro-FastAPI) that ffmpeg, browsers and sox read as "until EOF".
 */
export function wavHeader(sampleRate: number, dataBytes?: number): Uint8Array {
  const header = new Uint8Array(WAV_HEADER_BYTES);
  const view = new DataView(header.buffer);
  const ascii = (offset: number, text: string) => {
    for (let i = 0; i < text.length; i++) header[offset + i] = text.charCodeAt(i);
  };
  const streamed = dataBytes === undefined;
  ascii(0, 'RIFF');
  view.setUint32(4, streamed ? 0xffffffff : 36 + dataBytes, true);
  ascii(8, 'WAVE');
  ascii(12, 'fmt ');
  view.setUint32(16, 16, true);
  view.setUint16(20, WAVE_FORMAT_PCM, true);
  view.setUint16(22, 1, true); // channels
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * 2, true); // byte rate
  view.setUint16(32, 2, true); // block align
  view.setUint16(34, 16, true); // bits per sample
  ascii(36, 'data');
  view.setUint32(40, streamed ? 0xffffffff : dataBytes, true);
  return header;
}
