/** Metric names, shared by the providers that declare them and the services that inject them. */
export const METRIC = {
  sessionsTotal: 'tts_sessions_total',
  activeStreams: 'tts_active_streams',
  streamsTotal: 'tts_streams_total',
  streamBytesTotal: 'tts_stream_bytes_total',
  timeToFirstAudio: 'tts_time_to_first_audio_seconds',
  providerRequestsTotal: 'tts_provider_requests_total',
  providerCircuitState: 'tts_provider_circuit_state',
  providerSwitchesTotal: 'tts_provider_switches_total',
  rateLimitedTotal: 'tts_rate_limited_total',
  resumeBufferBytes: 'tts_resume_buffer_bytes',
  resumesTotal: 'tts_resumes_total',
  clientMessagesRejectedTotal: 'tts_client_messages_rejected_total',
  httpRequestsTotal: 'tts_http_requests_total',
  httpRequestDuration: 'tts_http_request_duration_seconds',
} as const;
