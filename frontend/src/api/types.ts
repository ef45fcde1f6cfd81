/** Wire types of the gateway's public API (see the README's API section). Only what the demo reads. */

export const FORMATS = ['pcm16', 'mulaw', 'alaw', 'wav', 'mp3', 'opus'] as const;
export type AudioFormat = (typeof FORMATS)[number];

export function isAudioFormat(value: string): value is AudioFormat {
  return (FORMATS as readonly string[]).includes(value);
}

export interface Voice {
  id: string;
  name: string;
  provider: string;
  language: string;
  languages?: string[];
  gender?: string | null;
  sample_rate_hz?: number;
  supported_formats?: string[];
  capabilities?: { streaming?: boolean; ssml?: boolean; word_timings?: boolean };
}

export interface ProviderInfo {
  id: string;
  name?: string;
  status?: string;
  reason?: string;
  voice_count?: number;
}

export interface VoiceCatalog {
  voices: Voice[];
  providers: ProviderInfo[];
}

export interface SessionRequest {
  text: string;
  provider?: string;
  voice?: string;
  language?: string;
  target_format: AudioFormat;
  sample_rate_hz?: number;
  speed?: number;
  /** Only where the gateway documents it (see `sessionRequestFields`). */
  pace?: 'asap' | 'realtime';
}

export interface SessionCreated {
  session_id: string;
  ws_url: string;
  target_format?: string;
  sample_rate_hz?: number;
  provider?: string;
  voice?: string;
  language?: string;
  [field: string]: unknown;
}

/** The gateway's REST error body. `message` is an array in some framework errors. */
export interface ErrorBody {
  statusCode?: number;
  error?: string;
  message?: string | string[];
  code?: string;
  field?: string;
}
