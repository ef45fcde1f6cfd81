import WebSocket from 'ws';

/** One message from the live socket, with its arrival time (performance.now()). */
export interface LiveFrame {
  at: number;
  /** Parsed JSON, or undefined for a binary audio frame. */
  message?: any;
  binary?: Buffer;
}

export interface ContextAudio {
  seqs: number[];
  chunks: Buffer[];
  bytes: Buffer;
  firstAt?: number;
  lastAt?: number;
}

/**
 * A real `ws` client of `WS /v1/tts/live` that records every frame with its arrival time, for specs that
 * feed text at a paced rate and check what came back and in which order.
 */
export class LiveClient {
  readonly frames: LiveFrame[] = [];
  closeCode: number | undefined;
  closeReason = '';
  private readonly waiters = new Set<() => void>();
  private readonly ws: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<number>;

  constructor(url: string, headers: Record<string, string> = {}) {
    this.ws = new WebSocket(url, { headers });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.closed = new Promise((resolve) =>
      this.ws.once('close', (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        this.notify();
        resolve(code);
      }),
    );
    this.ws.on('error', () => undefined);
    this.ws.on('message', (data: Buffer, isBinary) => {
      const at = performance.now();
      if (isBinary) this.frames.push({ at, binary: data });
      else this.frames.push({ at, message: JSON.parse(data.toString('utf8')) });
      this.notify();
    });
  }

  static async connect(url: string, headers: Record<string, string> = {}): Promise<LiveClient> {
    const client = new LiveClient(url, headers);
    await client.opened;
    return client;
  }

  get socket(): WebSocket {
    return this.ws;
  }

  send(message: Record<string, unknown> | string): number {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
    return performance.now();
  }

  /** Sends `tokens` as `text` messages `intervalMs` apart (an LLM's pace); resolves with each send time. */
  async feed(
    contextId: string | undefined,
    tokens: readonly string[],
    intervalMs: number,
  ): Promise<number[]> {
    const times: number[] = [];
    for (const token of tokens) {
      if (this.ws.readyState !== WebSocket.OPEN) break;
      times.push(this.send({ type: 'text', ...(contextId ? { context_id: contextId } : {}), text: token }));
      await new Promise((r) => setTimeout(r, intervalMs));
    }
    return times;
  }

  messages(filter: (m: any) => boolean = () => true): any[] {
    return this.frames.filter((f) => f.message && filter(f.message)).map((f) => f.message);
  }

  /** Resolves with the first frame (from index `from`) that matches, or rejects after `timeoutMs`. */
  waitFor(match: (m: any) => boolean, timeoutMs = 10000, from = 0): Promise<LiveFrame> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.frames.slice(from).find((f) => f.message && match(f.message));
        if (found) {
          done();
          resolve(found);
        } else if (this.closeCode !== undefined) {
          done();
          reject(
            new Error(`socket closed (${this.closeCode} ${this.closeReason}) before the awaited message`),
          );
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no matching message within ${timeoutMs} ms; got ${this.describe()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Audio of one context (JSON frames), or every binary frame when `contextId` is undefined. */
  audio(contextId?: string): ContextAudio {
    const frames = this.frames.filter((f) =>
      contextId === undefined ? f.binary : f.message?.type === 'audio' && f.message.context_id === contextId,
    );
    const chunks = frames.map((f) => f.binary ?? Buffer.from(f.message.data, 'base64'));
    return {
      seqs: frames.map((f) => f.message?.seq).filter((s) => s !== undefined),
      chunks,
      bytes: Buffer.concat(chunks),
      firstAt: frames[0]?.at,
      lastAt: frames.at(-1)?.at,
    };
  }

  close(): void {
    this.ws.close();
  }

  terminate(): void {
    this.ws.terminate();
  }

  describe(): string {
    const counts = new Map<string, number>();
    for (const f of this.frames) {
      const key = f.binary
        ? 'binary'
        : `${f.message.type}${f.message.context_id ? `:${f.message.context_id}` : ''}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const tail = this.frames
      .filter((f) => f.message && f.message.type !== 'audio')
      .slice(-3)
      .map((f) => JSON.stringify(f.message).slice(0, 200));
    return `${JSON.stringify(Object.fromEntries(counts))} last: ${tail.join(' | ')}`;
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** Splits text into LLM-like tokens: words with their leading space, punctuation on its own. */
export function tokens(text: string): string[] {
  return text.match(/\s*[\p{L}\p{N}'’$]+|\s*[^\s\p{L}\p{N}]/gu) ?? [];
}

/**
 * Splits text into pieces of 1 to `max` UTF-16 units, the same for a given seed: markup is cut anywhere
 * (inside tags, attributes, markers), as a model's tokens may cut it. A surrogate pair stays whole.
 */
export function pieces(text: string, max = 3, seed = 1): string[] {
  const out: string[] = [];
  let state = seed;
  for (let i = 0; i < text.length;) {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    let n = 1 + (state % max);
    const last = text.charCodeAt(i + n - 1);
    if (last >= 0xd800 && last <= 0xdbff) n++;
    out.push(text.slice(i, i + n));
    i += n;
  }
  return out;
}
