import { mergeSettings, parseLiveSettings } from './live-settings';

describe('parseLiveSettings', () => {
  it('should read the query as strings, numbers included', () => {
    expect(
      parseLiveSettings(
        {
          provider: 'espeak',
          target_format: 'mp3',
          sample_rate_hz: '16000',
          speed: '1.5',
          timings: 'words',
          fallback_providers: 'mock_tone, openai',
          binary: '1',
        },
        'query',
      ),
    ).toEqual({
      provider: 'espeak',
      voice: undefined,
      language: undefined,
      target_format: 'mp3',
      sample_rate_hz: 16000,
      speed: 1.5,
      timings: 'words',
      fallback_providers: ['mock_tone', 'openai'],
    });
  });

  it('should read start messages as JSON values', () => {
    expect(
      parseLiveSettings(
        { target_format: 'opus', sample_rate_hz: 48000, fallback_providers: ['espeak'] },
        'start',
      ),
    ).toMatchObject({ target_format: 'opus', sample_rate_hz: 48000, fallback_providers: ['espeak'] });
  });

  it.each([
    [{ target_format: 'flac' }, 'target_format'],
    [{ sample_rate_hz: 'fast' }, 'sample_rate_hz'],
    [{ sample_rate_hz: 7999 }, 'sample_rate_hz'],
    [{ speed: 0 }, 'speed'],
    [{ timings: 'chars' }, 'timings'],
    [{ text_format: 'html' }, 'text_format'],
    [{ voice: 42 }, 'voice'],
    [{ fallback_providers: 'espeak' }, 'fallback_providers'],
    [{ fallback_providers: ['a', 'b', 'c', 'd', 'e', 'f'] }, 'fallback_providers'],
  ])('should refuse %j naming the field', (raw, field) => {
    expect(() => parseLiveSettings(raw, 'start')).toThrow(
      expect.objectContaining({ code: 'validation_failed', details: expect.objectContaining({ field }) }),
    );
  });

  it.each(['text', 'ssml', 'markdown'])(
    'should accept text_format %s, in start and in the query',
    (format) => {
      expect(parseLiveSettings({ text_format: format }, 'start')).toMatchObject({ text_format: format });
      expect(parseLiveSettings({ text_format: format }, 'query')).toMatchObject({ text_format: format });
    },
  );

  it('should take start fields over the query defaults', () => {
    const defaults = parseLiveSettings({ provider: 'espeak', target_format: 'pcm16', speed: '2' }, 'query');
    expect(mergeSettings(defaults, parseLiveSettings({ target_format: 'wav' }, 'start'))).toMatchObject({
      provider: 'espeak',
      target_format: 'wav',
      speed: 2,
    });
  });
});
