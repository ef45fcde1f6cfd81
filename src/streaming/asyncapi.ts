/**
 * The AsyncAPI 3.0 description of the gateway's two WebSocket protocols, served at `/docs/asyncapi.json`
 * and linked from the OpenAPI document: the session stream (`/v1/tts/stream/{session_id}`) and the live
 * text input socket (`/v1/tts/live`). Kept beside the transport it describes.
 */
const ref = (name: string) => ({ $ref: `#/components/messages/${name}` });
const obj = (properties: Record<string, unknown>, required: string[] = []) => ({
  type: 'object',
  properties,
  ...(required.length > 0 ? { required } : {}),
});
const str = (description?: string, extra: Record<string, unknown> = {}) => ({
  type: 'string',
  ...(description ? { description } : {}),
  ...extra,
});
const int = (description?: string) => ({ type: 'integer', ...(description ? { description } : {}) });
const contextId = str('Client-chosen context id, 1..64 characters; omitted = "default".', {
  minLength: 1,
  maxLength: 64,
});
const settings = {
  provider: str('An enabled provider id.'),
  voice: str('A voice id of the provider.'),
  language: str('BCP-47 tag.'),
  target_format: str('Audio format.', { enum: ['pcm16', 'mulaw', 'alaw', 'wav', 'mp3', 'opus'] }),
  sample_rate_hz: int('8000..48000 (opus: 8000, 12000, 16000, 24000, 48000).'),
  speed: { type: 'number', minimum: 0.25, maximum: 4 },
  fallback_providers: {
    type: 'array',
    items: { type: 'string' },
    description: 'Tried before the first audio of each sentence.',
  },
  text_format: str(
    '"text" (default), "ssml" or "markdown", read as it arrives; timings of ssml/markdown contexts index the spoken text.',
    { enum: ['text', 'ssml', 'markdown'] },
  ),
  timings: str('`words` for word timings, `none` (default) for none.', { enum: ['words', 'none'] }),
};

export const ASYNCAPI_DOCUMENT = {
  asyncapi: '3.0.0',
  info: {
    title: 'TTS gateway WebSocket protocols',
    version: '1',
    description:
      'Server → client frames are JSON text frames (audio may be raw binary frames with `?binary=1`). ' +
      'Errors end a socket with close code 4000 + the HTTP status of their `code` (4404 session_not_found, ' +
      '4499 cancelled, 4503 shutting_down, 4409 superseded, 4410 resume_unavailable, 4400 invalid_from_seq, ' +
      '4429 policy_violation). The REST API is described in OpenAPI at /docs-json.',
  },
  channels: {
    sessionStream: {
      address: '/v1/tts/stream/{session_id}',
      description:
        'Streams one session created with POST /v1/tts/sessions. Query: `binary=1` (binary audio frames), ' +
        '`from_seq=N` (resume: frames N.. exactly once, then the live rest), `timings=words`.',
      parameters: { session_id: { description: 'The session id (UUID).' } },
      messages: {
        audio: ref('audio'),
        eos: ref('eos'),
        error: ref('error'),
        warning: ref('warning'),
        providerSwitched: ref('providerSwitched'),
        timings: ref('timings'),
        mark: ref('mark'),
        cancel: ref('cancel'),
      },
    },
    live: {
      address: '/v1/tts/live',
      description:
        'Live text input for voice agents: text in as it is produced, audio out per sentence, several ' +
        'contexts per socket. Query parameters give defaults for every context: provider, voice, language, ' +
        'target_format, sample_rate_hz, speed, fallback_providers (comma list), timings=words, binary=1 (one ' +
        'context at a time). Order per context: a sentence’s `timings` before its first audio, `flushed` after ' +
        'the last frame of the flushed text, `eos` after the last frame; `cleared` is the last message of a ' +
        'cleared context (the same context_id may then start a new one). An `error` with context_id ends that ' +
        'context and the socket stays open; a `warning` means a message was ignored.',
      messages: {
        start: ref('liveStart'),
        text: ref('liveText'),
        flush: ref('liveFlush'),
        end: ref('liveEnd'),
        clear: ref('liveClear'),
        close: ref('liveClose'),
        audio: ref('audio'),
        timings: ref('timings'),
        mark: ref('mark'),
        flushed: ref('liveAck'),
        cleared: ref('liveAck'),
        eos: ref('eos'),
        error: ref('error'),
        warning: ref('warning'),
      },
    },
  },
  operations: {
    receiveSessionStream: {
      action: 'send',
      channel: { $ref: '#/channels/sessionStream' },
      summary: 'What the server sends on a session stream, in order.',
      messages: [
        { $ref: '#/channels/sessionStream/messages/audio' },
        { $ref: '#/channels/sessionStream/messages/providerSwitched' },
        { $ref: '#/channels/sessionStream/messages/timings' },
        { $ref: '#/channels/sessionStream/messages/mark' },
        { $ref: '#/channels/sessionStream/messages/warning' },
        { $ref: '#/channels/sessionStream/messages/eos' },
        { $ref: '#/channels/sessionStream/messages/error' },
      ],
    },
    cancelSessionStream: {
      action: 'receive',
      channel: { $ref: '#/channels/sessionStream' },
      messages: [{ $ref: '#/channels/sessionStream/messages/cancel' }],
    },
    liveIn: {
      action: 'receive',
      channel: { $ref: '#/channels/live' },
      summary: 'What a client sends on the live socket.',
      messages: ['start', 'text', 'flush', 'end', 'clear', 'close'].map((m) => ({
        $ref: `#/channels/live/messages/${m}`,
      })),
    },
    liveOut: {
      action: 'send',
      channel: { $ref: '#/channels/live' },
      summary: 'What the server sends on the live socket.',
      messages: ['audio', 'timings', 'mark', 'flushed', 'cleared', 'eos', 'error', 'warning'].map((m) => ({
        $ref: `#/channels/live/messages/${m}`,
      })),
    },
  },
  components: {
    messages: {
      audio: {
        summary: 'Encoded audio; concatenated in seq order = one valid stream of the format.',
        payload: obj(
          {
            type: { const: 'audio' },
            seq: int('1, 2, 3 … (per context on the live socket).'),
            data: str('Base64 of the bytes.'),
            context_id: contextId,
          },
          ['type', 'seq', 'data'],
        ),
      },
      eos: {
        summary:
          'The last message of a successful stream, then close 1000; on the live socket the end of one context (the socket stays open; `reason: "idle_timeout"` when the idle timeout ended it).',
        payload: obj(
          {
            type: { const: 'eos' },
            chunks: int(),
            bytes: int(),
            audio_duration_ms: int(),
            time_to_first_audio_ms: { type: ['integer', 'null'], description: 'Session streams only.' },
            reason: str('Live only: why the context ended when it was not `end`.', {
              enum: ['idle_timeout'],
            }),
            context_id: contextId,
          },
          ['type'],
        ),
      },
      error: {
        summary:
          'Instead of eos on failure, then close 4000+status (on the live socket a context error keeps the socket open).',
        payload: obj(
          { type: { const: 'error' }, code: str('Stable code.'), message: str(), context_id: contextId },
          ['type', 'code', 'message'],
        ),
      },
      warning: {
        summary: 'A client message the server did not understand, or (live) SSML it ignored; nothing stops.',
        payload: obj({ type: { const: 'warning' }, code: str(), message: str(), context_id: contextId }, [
          'type',
          'code',
        ]),
      },
      providerSwitched: {
        summary: 'Mid-stream failover (failover: "mid_stream"): the fallback restarts at text_offset.',
        payload: obj(
          {
            type: { const: 'provider_switched' },
            from: str(),
            to: str(),
            seq: int('The seq of the fallback’s first audio frame.'),
            text_offset: int(
              'Character offset where the fallback restarts (start of the interrupted sentence), into the text as the client sent it.',
            ),
          },
          ['type', 'from', 'to', 'seq', 'text_offset'],
        ),
      },
      timings: {
        summary: 'Word timings, sent before the audio they cover.',
        payload: obj(
          {
            type: { const: 'timings' },
            context_id: contextId,
            source: str(undefined, { enum: ['native', 'estimated'] }),
            words: {
              type: 'array',
              items: obj(
                {
                  text: str(),
                  start_ms: int('From the first sample of the stream/context.'),
                  end_ms: int(),
                  text_start: int('Offset into the text the client sent.'),
                  text_end: int(),
                },
                ['text', 'start_ms', 'end_ms', 'text_start', 'text_end'],
              ),
            },
          },
          ['type', 'words', 'source'],
        ),
      },
      mark: {
        summary: 'An SSML <mark> reached in the audio.',
        payload: obj(
          {
            type: { const: 'mark' },
            name: str(),
            start_ms: int('From the first sample of the stream (live: of the context).'),
            context_id: contextId,
          },
          ['type', 'name', 'start_ms'],
        ),
      },
      cancel: {
        summary: 'Stops the synthesis; answered by error `cancelled` and close 4499.',
        payload: obj({ type: { const: 'cancel' } }, ['type']),
      },
      liveStart: {
        summary:
          'Opens a context with its own settings (optional: the first text opens one with the query settings).',
        payload: obj(
          { type: { const: 'start' }, context_id: contextId, text: str('Optional first text.'), ...settings },
          ['type'],
        ),
      },
      liveText: {
        summary: 'Appends text; complete sentences are synthesized as they form.',
        payload: obj({ type: { const: 'text' }, context_id: contextId, text: str() }, ['type', 'text']),
      },
      liveFlush: {
        summary: 'Synthesize what is buffered now; answered by `flushed` once its audio has been sent.',
        payload: obj({ type: { const: 'flush' }, context_id: contextId }, ['type']),
      },
      liveEnd: {
        summary: 'No more text for the context: finish it, then `eos`.',
        payload: obj({ type: { const: 'end' }, context_id: contextId }, ['type']),
      },
      liveClear: {
        summary: 'Barge-in: drop queued text and unsent audio, stop the engine; answered by `cleared`.',
        payload: obj({ type: { const: 'clear' }, context_id: contextId }, ['type']),
      },
      liveClose: {
        summary: 'End every context (as `end`), then close 1000.',
        payload: obj({ type: { const: 'close' } }, ['type']),
      },
      liveAck: {
        summary: '`flushed` or `cleared` acknowledgement.',
        payload: obj({ type: str(undefined, { enum: ['flushed', 'cleared'] }), context_id: contextId }, [
          'type',
        ]),
      },
    },
  },
} as const;
