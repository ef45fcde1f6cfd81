import type { ProviderId } from '../providers/provider.contract';
import type { FailoverMode } from '../synthesis/synthesis.types';
import type { TextFormat } from '../text/prepare';
import type { StreamFormat } from '../transcode/audio-format';

export const SESSION_STATUSES = ['pending', 'streaming', 'completed', 'failed', 'cancelled'] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];
export const FINAL_STATUSES: readonly SessionStatus[] = ['completed', 'failed', 'cancelled'];

/** A fallback resolved at creation: the provider and the voice it will use for the session language. */
export interface SessionFallback {
  provider: ProviderId;
  voice: string;
}

/**
 * A synthesis session as stored. Plain JSON (no class instances, no Dates) so that a Redis-backed store
 * can hold the same shape. Request fields are already normalized and validated.
 */
export interface Session {
  id: string;
  status: SessionStatus;
  text: string;
  provider: ProviderId;
  voice: string;
  language: string;
  targetFormat: StreamFormat;
  sampleRateHz: number;
  speed: number;
  fallbacks: SessionFallback[];
  failover: FailoverMode;
  /** Who created it (API key name, else client IP): fairness caps and ownership. Never shown to others. */
  client: string;
  /** Set by DELETE: the text is gone and the audio may no longer be served. */
  purged?: boolean;
  /** How `text` is written (plain, SSML, markdown); `text` is kept as the client sent it. */
  textFormat: TextFormat;
  /** The text exactly as the client sent it, when normalization changed it (word-timing offsets point into it). */
  sourceText?: string;
  /** Ignored SSML elements, for the client. */
  warnings: string[];
  /** Whether the audio cache may serve or store this session's audio. */
  cache: boolean;
  /** Fixed framing: every audio message carries this much audio (the last may be shorter). */
  frameMs?: number;
  /** `realtime`: sent no more than ~300 ms ahead of real time. */
  pace?: 'asap' | 'realtime';
  /** Where the audio of the last synthesis came from. */
  servedFrom?: 'cache' | 'engine';
  createdAt: string;
  updatedAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** Epoch ms after which the store may forget the session. */
  expiresAt: number;
  chunksSent: number;
  bytesSent: number;
  audioMs: number;
  timeToFirstAudioMs?: number;
  /** Provider that actually produced the audio (differs from `provider` after a failover). */
  servedBy?: ProviderId;
  error?: { code: string; message: string };
}
