/**
 * Stable error codes shared by REST responses (`code` field) and WebSocket error frames
 * (`{"type":"error","code":...}`). Clients branch on these; never rename one.
 */
export enum ErrorCode {
  ValidationFailed = 'validation_failed',
  MalformedJson = 'malformed_json',
  PayloadTooLarge = 'payload_too_large',
  NotFound = 'not_found',
  SessionNotFound = 'session_not_found',
  SessionAlreadyStreamed = 'session_already_streamed',
  ProviderNotEnabled = 'provider_not_enabled',
  VoiceNotFound = 'voice_not_found',
  LanguageNotSupported = 'language_not_supported',
  UnsupportedFormat = 'unsupported_format',
  UnsupportedSampleRate = 'unsupported_sample_rate',
  RateLimited = 'rate_limited',
  TooManyStreams = 'too_many_streams',
  ProviderUnavailable = 'provider_unavailable',
  ProviderTimeout = 'provider_timeout',
  ProviderError = 'provider_error',
  SlowConsumer = 'slow_consumer',
  Cancelled = 'cancelled',
  BadMessage = 'bad_message',
  ShuttingDown = 'shutting_down',
  InternalError = 'internal_error',
  UnsupportedMediaType = 'unsupported_media_type',
  PolicyViolation = 'policy_violation',
  ProviderBusy = 'provider_busy',
  ProviderStreamInterrupted = 'provider_stream_interrupted',
  ResumeUnavailable = 'resume_unavailable',
  InvalidFromSeq = 'invalid_from_seq',
  Superseded = 'superseded',
  AudioTooLong = 'audio_too_long',
  StateUnavailable = 'state_unavailable',
  StreamLost = 'stream_lost',
  Unauthorized = 'unauthorized',
}

/** HTTP status for each code. The switch is exhaustive: adding a code without a status fails to compile. */
export function httpStatusOf(code: ErrorCode): number {
  switch (code) {
    case ErrorCode.ValidationFailed:
    case ErrorCode.MalformedJson:
    case ErrorCode.ProviderNotEnabled:
    case ErrorCode.VoiceNotFound:
    case ErrorCode.LanguageNotSupported:
    case ErrorCode.UnsupportedFormat:
    case ErrorCode.UnsupportedSampleRate:
    case ErrorCode.BadMessage:
    case ErrorCode.InvalidFromSeq:
      return 400;
    case ErrorCode.Unauthorized:
      return 401;
    case ErrorCode.NotFound:
    case ErrorCode.SessionNotFound:
      return 404;
    case ErrorCode.SlowConsumer:
      return 408;
    case ErrorCode.SessionAlreadyStreamed:
    case ErrorCode.Superseded:
      return 409;
    case ErrorCode.ResumeUnavailable:
      return 410;
    case ErrorCode.PayloadTooLarge:
    case ErrorCode.AudioTooLong:
      return 413;
    case ErrorCode.UnsupportedMediaType:
      return 415;
    case ErrorCode.RateLimited:
    case ErrorCode.PolicyViolation:
      return 429;
    case ErrorCode.Cancelled:
      // nginx's "client closed request": the stream ended because the client asked for it.
      return 499;
    case ErrorCode.InternalError:
      return 500;
    case ErrorCode.ProviderError:
    case ErrorCode.ProviderStreamInterrupted:
    case ErrorCode.StreamLost:
      return 502;
    case ErrorCode.ProviderUnavailable:
    case ErrorCode.ProviderBusy:
    case ErrorCode.TooManyStreams:
    case ErrorCode.ShuttingDown:
    case ErrorCode.StateUnavailable:
      return 503;
    case ErrorCode.ProviderTimeout:
      return 504;
  }
}

/**
 * WebSocket close code for an error: 4000 + the HTTP status (4404 session_not_found, 4499 cancelled,
 * 4503 provider_unavailable, ...). One rule, so REST and WS clients read the same number.
 */
export function wsCloseCodeOf(code: ErrorCode): number {
  return 4000 + httpStatusOf(code);
}
