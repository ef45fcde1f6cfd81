import { describe, expect, it } from 'vitest';
import { NO_SUPPORT, choosePlayer, type PlaybackSupport } from './players';

const chromium: PlaybackSupport = { worklet: true, webcodecs: { mp3: true, opus: true }, mseMp3: true };
const noWebCodecs: PlaybackSupport = { worklet: true, webcodecs: { mp3: false, opus: false }, mseMp3: true };

describe(choosePlayer.name, () => {
  it('should play raw formats through the worklet', () => {
    for (const f of ['pcm16', 'mulaw', 'alaw', 'wav'] as const)
      expect(choosePlayer(f, chromium)).toBe('worklet');
  });

  it('should prefer WebCodecs for MP3 and Opus', () => {
    expect(choosePlayer('mp3', chromium)).toBe('webcodecs');
    expect(choosePlayer('opus', chromium)).toBe('webcodecs');
  });

  it('should fall back to MediaSource for MP3 and to the whole file for Ogg Opus', () => {
    expect(choosePlayer('mp3', noWebCodecs)).toBe('mse');
    expect(choosePlayer('opus', noWebCodecs)).toBe('file');
    expect(choosePlayer('mp3', { ...noWebCodecs, mseMp3: false })).toBe('file');
  });

  it('should honour a preferred player only where it can play the format', () => {
    expect(choosePlayer('mp3', chromium, 'mse')).toBe('mse');
    expect(choosePlayer('opus', chromium, 'mse')).toBe('webcodecs');
    expect(choosePlayer('pcm16', chromium, 'file')).toBe('worklet');
  });

  it('should say when nothing can play', () => {
    expect(choosePlayer('pcm16', NO_SUPPORT)).toBeNull();
    expect(choosePlayer('opus', NO_SUPPORT)).toBeNull();
  });
});
