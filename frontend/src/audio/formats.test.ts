import { describe, expect, it } from 'vitest';
import { FORMATS } from '../api/types';
import { FORMAT_INFO, formatRate, isRateAllowed, rateAfterFormatChange } from './formats';

describe('format rules', () => {
  it('should default G.711 to 8 kHz and the others to 24 kHz', () => {
    expect(rateAfterFormatChange('mulaw')).toBe(8000);
    expect(rateAfterFormatChange('alaw')).toBe(8000);
    expect(rateAfterFormatChange('pcm16')).toBe(24000);
    expect(rateAfterFormatChange('opus')).toBe(24000);
  });

  it('should offer only the rates a format allows', () => {
    expect(FORMAT_INFO.opus.rates).toEqual([8000, 12000, 16000, 24000, 48000]);
    expect(isRateAllowed('opus', 22050)).toBe(false);
    expect(isRateAllowed('mp3', 22050)).toBe(true);
    expect(isRateAllowed('mp3', 20000)).toBe(false);
    for (const f of FORMATS) expect(isRateAllowed(f, FORMAT_INFO[f].defaultRate)).toBe(true);
  });

  it('should save raw formats as WAV', () => {
    expect(FORMAT_INFO.pcm16.file.extension).toBe('wav');
    expect(FORMAT_INFO.mulaw.file.extension).toBe('wav');
    expect(FORMAT_INFO.opus.file).toMatchObject({ extension: 'opus', mime: 'audio/ogg' });
  });

  it('should print rates in kHz', () => {
    expect(formatRate(8000)).toBe('8 kHz');
    expect(formatRate(22050)).toBe('22.05 kHz');
    expect(formatRate(11025)).toBe('11.025 kHz');
  });
});
