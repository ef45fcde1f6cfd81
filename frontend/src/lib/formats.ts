export const FORMATS = ['pcm16', 'wav', 'mulaw', 'alaw', 'mp3', 'opus'] as const;
export type Format = (typeof FORMATS)[number];

/** Formats decoded to PCM in the browser and played live while streaming. */
export const LIVE_FORMATS: ReadonlySet<string> = new Set(['pcm16', 'mulaw', 'alaw']);

/** Container formats played from a Blob after end of stream. */
export const BLOB_CONTENT_TYPES: Readonly<Record<string, string>> = {
  wav: 'audio/wav',
  mp3: 'audio/mpeg',
  opus: 'audio/ogg',
};

/** Turn an HTTP error body ({ statusCode, error, message }) into display text. */
export function errorMessage(body: unknown, fallback: string): string {
  if (body && typeof body === 'object') {
    const { message, error } = body as { message?: unknown; error?: unknown };
    if (Array.isArray(message)) return message.join('; ');
    if (typeof message === 'string' && message) return message;
    if (typeof error === 'string' && error) return error;
  }
  return fallback;
}
