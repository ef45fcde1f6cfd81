/** Metric names, shared by the providers that declare them and the services that inject them. */
export const METRIC = {
  sessionsTotal: 'tts_sessions_total',
  activeStreams: 'tts_active_streams',
  streamsTotal: 'tts_streams_total',
  streamBytesTotal: 'tts_stream_bytes_total',
  timeToFirstAudio: 'tts_time_to_first_audio_seconds',
  providerRequestsTotal: 'tts_provider_requests_total',
  providerCircuitState: 'tts_provider_circuit_state',
  rateLimitedTotal: 'tts_rate_limited_total',
} as const;
