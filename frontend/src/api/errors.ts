/** Plain-words explanations of the gateway's stable error codes and of WebSocket close codes. */

const CODE_WORDS: Readonly<Record<string, string>> = {
  validation_failed: 'the request was not valid',
  malformed_json: 'the request body was not JSON',
  payload_too_large: 'the text is too long for the gateway',
  not_found: 'not found',
  session_not_found: 'the session does not exist or has expired',
  session_already_streamed: 'this session was already streamed once',
  provider_not_enabled: 'that provider is not enabled on this gateway',
  voice_not_found: 'that voice does not exist for the provider',
  language_not_supported: 'the voice does not speak that language',
  unsupported_format: 'the format is not available',
  unsupported_sample_rate: 'the sample rate is not allowed for this format',
  rate_limited: 'rate limited: too many new sessions from this client',
  too_many_streams: 'the gateway is at its stream limit',
  provider_unavailable: 'the provider is unavailable (down, or its circuit breaker is open)',
  provider_busy: 'the provider is at its concurrency limit',
  provider_timeout: 'the speech engine did not answer in time',
  provider_error: 'the speech engine failed',
  provider_stream_interrupted: 'the speech engine failed after audio had started',
  slow_consumer: 'this client read too slowly',
  cancelled: 'stopped',
  bad_message: 'the gateway did not understand a message',
  shutting_down: 'the gateway is shutting down',
  internal_error: 'the gateway hit an internal error',
  unauthorized: 'this gateway needs an API key',
  resume_unavailable: 'the stream can no longer be resumed',
  invalid_from_seq: 'invalid resume position',
  superseded: 'another connection took over this stream',
  state_unavailable: "the gateway's shared state is unavailable",
};

const HTTP_WORDS: Readonly<Record<number, string>> = {
  400: 'bad request',
  401: 'an API key is needed',
  403: 'forbidden',
  404: 'not found',
  409: 'conflict',
  413: 'request too large',
  429: 'rate limited',
  500: 'server error',
  502: 'bad gateway',
  503: 'service unavailable',
  504: 'gateway timeout',
};

/** `rate_limited` → "rate limited: too many new sessions from this client"; unknown codes as they are. */
export function describeCode(code: string): string {
  return CODE_WORDS[code] ?? code.replace(/_/g, ' ');
}

export function describeHttpStatus(status: number): string {
  return HTTP_WORDS[status] ?? `HTTP ${status}`;
}

/** Words for a close code: the gateway's are 4000 + the HTTP status of the error. */
export function describeCloseCode(code: number): string {
  switch (code) {
    case 1000:
      return 'closed normally';
    case 1001:
      return 'the server went away';
    case 1005:
      return 'closed without a status';
    case 1006:
      return 'connection lost';
    case 1008:
      return 'refused by policy';
    case 1009:
      return 'message too big';
    case 1011:
      return 'server error';
    case 1013:
      return 'try again later';
    case 4499:
      return 'cancelled';
    default:
      return code >= 4000 && code < 5000 ? describeHttpStatus(code - 4000) : `code ${code}`;
  }
}
