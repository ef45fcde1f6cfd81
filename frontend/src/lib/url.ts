/**
 * Resolve the session's ws_url against the page URL. Absolute ws:/wss: URLs are kept
 * (upgraded to wss on an https page); relative or http(s) URLs get the matching ws scheme.
 */
export function resolveWsUrl(wsUrl: string, pageUrl: string): string {
  const page = new URL(pageUrl);
  const u = new URL(wsUrl, page);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  if (page.protocol === 'https:' && u.protocol === 'ws:') u.protocol = 'wss:';
  return u.toString();
}
