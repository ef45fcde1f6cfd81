/**
 * Resolve the session's `ws_url` against the page URL. The gateway sends an absolute ws(s) URL, or a relative
 * path (`/v1/tts/stream/<id>`) when it has no trusted host; either way the scheme follows the page (wss on https).
 */
export function resolveWsUrl(wsUrl: string, pageUrl: string): string {
  const page = new URL(pageUrl);
  const url = new URL(wsUrl, page);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  if (page.protocol === 'https:' && url.protocol === 'ws:') url.protocol = 'wss:';
  return url.toString();
}
