import { describe, expect, it } from 'vitest';
import { resolveWsUrl } from './url';

describe('resolveWsUrl', () => {
  it('should keep an absolute ws url', () => {
    expect(resolveWsUrl('ws://gw:8080/v1/tts/stream/a', 'http://localhost:5173/')).toBe(
      'ws://gw:8080/v1/tts/stream/a',
    );
  });

  it('should resolve a relative url against the page with the matching scheme', () => {
    expect(resolveWsUrl('/v1/tts/stream/a', 'http://localhost:8080/')).toBe(
      'ws://localhost:8080/v1/tts/stream/a',
    );
    expect(resolveWsUrl('/v1/tts/stream/a?token=x', 'https://demo.example/x/')).toBe(
      'wss://demo.example/v1/tts/stream/a?token=x',
    );
  });

  it('should upgrade ws to wss on an https page', () => {
    expect(resolveWsUrl('ws://demo.example/v1/tts/stream/a', 'https://demo.example/')).toBe(
      'wss://demo.example/v1/tts/stream/a',
    );
  });
});
