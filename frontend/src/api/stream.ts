import { base64ToBytes } from '../audio/pcm';

/** One server → client message of `WS /v1/tts/stream/:id`, parsed. Unknown types are kept, not fatal. */
export type ServerFrame =
  | { type: 'audio'; seq: number; data: Uint8Array }
  | {
      type: 'eos';
      chunks?: number;
      bytes?: number;
      audio_duration_ms?: number;
      time_to_first_audio_ms?: number;
    }
  | { type: 'error'; code: string; message: string }
  | { type: 'provider_switched'; from?: string; to?: string; seq?: number; text_offset?: number }
  | { type: 'warning'; code?: string; message?: string }
  | { type: 'other'; name: string; raw: Record<string, unknown> };

/**
 * Parses a text frame (JSON) or a binary frame (`?binary=1`: raw audio, numbered `nextSeq`).
 * Returns null for a frame that is not a JSON object; timings, marks and future types come back as `other`.
 */
export function parseServerFrame(
  data: string | ArrayBuffer | Uint8Array,
  nextSeq: number,
): ServerFrame | null {
  if (typeof data !== 'string') {
    return { type: 'audio', seq: nextSeq, data: data instanceof Uint8Array ? data : new Uint8Array(data) };
  }
  let msg: unknown;
  try {
    msg = JSON.parse(data);
  } catch {
    return null;
  }
  if (!msg || typeof msg !== 'object' || Array.isArray(msg)) return null;
  const m = msg as Record<string, unknown>;
  switch (m.type) {
    case 'audio':
      return {
        type: 'audio',
        seq: typeof m.seq === 'number' ? m.seq : nextSeq,
        data: typeof m.data === 'string' ? base64ToBytes(m.data) : new Uint8Array(0),
      };
    case 'eos':
      return { ...(m as object), type: 'eos' };
    case 'error':
      return { type: 'error', code: String(m.code ?? 'unknown'), message: String(m.message ?? '') };
    case 'provider_switched':
      return { ...(m as object), type: 'provider_switched' };
    case 'warning':
      return {
        type: 'warning',
        code: m.code as string | undefined,
        message: m.message as string | undefined,
      };
    default:
      return { type: 'other', name: String(m.type ?? 'untyped'), raw: m };
  }
}

/**
 * Tracks `seq` (starts at 1, grows by exactly 1). `gaps` counts discontinuities; `missing` the frames a
 * forward jump skipped.
 */
export class SeqTracker {
  last = 0;
  gaps = 0;
  missing = 0;

  observe(seq: number): boolean {
    const gap = seq !== this.last + 1;
    if (gap) {
      this.gaps++;
      if (seq > this.last + 1) this.missing += seq - this.last - 1;
    }
    this.last = Math.max(this.last, seq);
    return gap;
  }
}

/** How a stream ended, from the client's point of view. */
export type StreamOutcome =
  | { kind: 'completed'; closeCode: number }
  | { kind: 'cancelled'; closeCode: number }
  | { kind: 'error'; code: string; message: string; closeCode: number }
  | { kind: 'closed'; closeCode: number; reason: string };

export interface StreamHandlers {
  open?(): void;
  /** `seqs` has the running gap counts, this frame included. */
  audio?(bytes: Uint8Array, seq: number, seqs: Readonly<SeqTracker>): void;
  eos?(frame: Extract<ServerFrame, { type: 'eos' }>): void;
  /** provider_switched, warning, timings, mark and anything newer. */
  event?(frame: Exclude<ServerFrame, { type: 'audio' | 'eos' }>): void;
  end?(outcome: StreamOutcome): void;
}

/** The part of the browser's WebSocket this client uses (tests pass a fake). */
export interface WebSocketLike {
  readonly readyState: number;
  binaryType: string;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketFactory = (url: string) => WebSocketLike;

const OPEN = 1;
const CLOSED = 3;
/** After `cancel`, how long to wait for the gateway's `cancelled` error and close before closing ourselves. */
const CANCEL_GRACE_MS = 2000;

/**
 * Client of `WS /v1/tts/stream/:id`: numbers and counts audio, tells the outcome once, and cancels cleanly
 * at any moment (before the socket opened: cancel as soon as it opens, rather than a close() that browsers
 * log as an error).
 */
export class TtsStream {
  readonly seq = new SeqTracker();
  bytes = 0;
  chunks = 0;
  private readonly ws: WebSocketLike;
  private terminal: ServerFrame | null = null;
  private cancelRequested = false;
  private finished = false;
  private cancelTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    url: string,
    private readonly handlers: StreamHandlers,
    factory: WebSocketFactory = (u) => new WebSocket(u) as unknown as WebSocketLike,
  ) {
    this.ws = factory(url);
    this.ws.binaryType = 'arraybuffer';
    this.ws.onopen = () => {
      if (this.cancelRequested) this.sendCancel();
      else this.handlers.open?.();
    };
    this.ws.onmessage = (ev) => this.onMessage(ev.data);
    this.ws.onerror = () => undefined; // the close event that follows carries the code
    this.ws.onclose = (ev) => this.onClose(ev.code, ev.reason);
  }

  /** Ask the gateway to stop synthesis; it answers `error cancelled` and closes 4499. */
  cancel(): void {
    if (this.finished || this.cancelRequested) return;
    this.cancelRequested = true;
    if (this.ws.readyState === OPEN) this.sendCancel();
    this.cancelTimer = setTimeout(() => this.ws.close(1000, 'cancelled'), CANCEL_GRACE_MS);
  }

  private sendCancel(): void {
    this.ws.send(JSON.stringify({ type: 'cancel' }));
  }

  private onMessage(data: unknown): void {
    if (this.finished) return;
    const frame = parseServerFrame(data as string | ArrayBuffer, this.seq.last + 1);
    if (!frame) return;
    switch (frame.type) {
      case 'audio': {
        if (this.cancelRequested) return;
        this.seq.observe(frame.seq);
        this.bytes += frame.data.length;
        this.chunks++;
        this.handlers.audio?.(frame.data, frame.seq, this.seq);
        return;
      }
      case 'eos':
        this.terminal = frame;
        this.handlers.eos?.(frame);
        return;
      case 'error':
        this.terminal = frame;
        return;
      case 'provider_switched':
      case 'warning':
      case 'other':
        this.handlers.event?.(frame);
        return;
    }
  }

  private onClose(closeCode: number, reason: string): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.cancelTimer);
    const t = this.terminal;
    let outcome: StreamOutcome;
    if (t?.type === 'eos') outcome = { kind: 'completed', closeCode };
    else if (t?.type === 'error' && t.code === 'cancelled') outcome = { kind: 'cancelled', closeCode };
    else if (t?.type === 'error') outcome = { kind: 'error', code: t.code, message: t.message, closeCode };
    else if (this.cancelRequested) outcome = { kind: 'cancelled', closeCode };
    else outcome = { kind: 'closed', closeCode, reason };
    this.handlers.end?.(outcome);
  }

  /** Drop the socket without waiting (page teardown). */
  dispose(): void {
    if (this.ws.readyState !== CLOSED) {
      if (this.ws.readyState === OPEN) this.sendCancel();
      this.ws.close(1000, 'client gone');
    }
    this.onClose(1000, 'client gone');
  }
}
