import { registerAs } from '@nestjs/config';

import { int } from '../config/env-values';

/**
 * Settings of the live text socket (`WS /v1/tts/live`). Validated by `EnvironmentVariables` (LIVE_*); the
 * socket's send buffer, stall timeout and heartbeat are the session stream's (WS_*).
 */
export const liveConfig = registerAs('live', () => {
  const maxTextChars = int(process.env.MAX_TEXT_CHARS, 5000);
  return {
    /** Contexts one socket may have open at once (ElevenLabs' multi-context socket allows 5 too). */
    maxContexts: int(process.env.LIVE_MAX_CONTEXTS, 5),
    /** A partial sentence with no new text for this long is synthesized as it is. */
    idleGapMs: int(process.env.LIVE_IDLE_GAP_MS, 300),
    /** UTF-8 bytes of text one context may receive in its life: by default as much as one session's text. */
    maxContextTextBytes: int(
      process.env.LIVE_MAX_CONTEXT_TEXT_BYTES,
      int(process.env.MAX_TEXT_BYTES, maxTextChars * 4),
    ),
    /** UTF-8 bytes of text received and not yet being synthesized, summed over a socket's contexts. */
    maxBufferedTextBytes: int(process.env.LIVE_MAX_BUFFERED_TEXT_BYTES, 64 * 1024),
    /** A context with nothing to do and no message for this long is ended (as `end`, eos reason `idle_timeout`). */
    contextIdleTimeoutMs: int(process.env.LIVE_CONTEXT_IDLE_TIMEOUT_MS, 60_000),
    /** Characters of text per client per minute, over all its sockets; 0 turns the limit off. */
    charsPerMinute: int(process.env.LIVE_CHARS_PER_MINUTE, 100_000),
    /**
     * Client messages per second per socket (sustained; burst twice that). Higher than the session stream's
     * WS_CLIENT_MESSAGES_PER_SECOND: a fast model sends one message per token, in several contexts.
     */
    clientMessagesPerSecond: int(process.env.LIVE_CLIENT_MESSAGES_PER_SECOND, 500),
  };
});

export type LiveConfig = ReturnType<typeof liveConfig>;
