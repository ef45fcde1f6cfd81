import { describe, expect, it } from 'vitest';
import { resolveWsUrl } from './url';

describe('resolveWsUrl', () => {
  it('keeps an absolute ws url', () => {
    expect(resolveWsUrl('ws://gw:8080/v1/tts/sessions/abc/stream', 'http://localhost:5173/')).toBe(
      'ws://gw:8080/v1/tts/sessions/abc/stream',
    );
  });
  it('upgrades to wss on an https page', () => {
    expect(resolveWsUrl('ws://gw/v1/s/1', 'https://gw/')).toBe('wss://gw/v1/s/1');
    expect(resolveWsUrl('wss://gw/v1/s/1', 'https://gw/')).toBe('wss://gw/v1/s/1');
  });
  it('resolves a relative url with the page scheme', () => {
    expect(resolveWsUrl('/v1/s/1', 'http://localhost:5173/')).toBe('ws://localhost:5173/v1/s/1');
    expect(resolveWsUrl('/v1/s/1', 'https://demo.example/')).toBe('wss://demo.example/v1/s/1');
  });
});
