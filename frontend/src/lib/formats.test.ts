import { describe, expect, it } from 'vitest';
import { BLOB_CONTENT_TYPES, LIVE_FORMATS, errorMessage } from './formats';

describe('formats', () => {
  it('content types', () => {
    expect(BLOB_CONTENT_TYPES.wav).toBe('audio/wav');
    expect(BLOB_CONTENT_TYPES.mp3).toBe('audio/mpeg');
    expect(BLOB_CONTENT_TYPES.opus).toBe('audio/ogg');
    expect(BLOB_CONTENT_TYPES.mulaw).toBeUndefined();
    expect(LIVE_FORMATS.has('pcm16')).toBe(true);
    expect(LIVE_FORMATS.has('mp3')).toBe(false);
  });

  it('error message extraction', () => {
    expect(errorMessage({ statusCode: 400, error: 'Bad Request', message: 'unknown voice' }, 'x')).toBe('unknown voice');
    expect(errorMessage({ statusCode: 400, error: 'Bad Request', message: ['a', 'b'] }, 'x')).toBe('a; b');
    expect(errorMessage({ statusCode: 503, error: 'Service Unavailable' }, 'x')).toBe('Service Unavailable');
    expect(errorMessage('nope', 'HTTP 500')).toBe('HTTP 500');
  });
});
