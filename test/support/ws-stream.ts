import WebSocket from 'ws';

export interface CollectedStream {
  /** Audio payloads in arrival order, with their seq (undefined in binary mode). */
  audio: { seq?: number; data: Buffer }[];
  /** Every JSON control message, in order (eos, error, warning). */
  control: any[];
  eos?: any;
  error?: any;
  closeCode: number;
  closeReason: string;
  /** ms from socket open to the first audio frame. */
  firstAudioMs?: number;
  /** ms from socket open to close. */
  totalMs: number;
  bytes: Buffer;
}

export interface StreamOptions {
  /** Called on every message; can send to or pause the socket. */
  onMessage?: (ws: WebSocket, message: any, isBinary: boolean) => void;
  onOpen?: (ws: WebSocket) => void;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

/** Connects a real `ws` client and collects everything until the server closes (or the guard fires). */
export function collectStream(url: string, options: StreamOptions = {}): Promise<CollectedStream> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: options.headers });
    const result: CollectedStream = {
      audio: [],
      control: [],
      closeCode: 0,
      closeReason: '',
      totalMs: 0,
      bytes: Buffer.alloc(0),
    };
    let openedAt = performance.now();
    const guard = setTimeout(() => {
      ws.terminate();
      reject(new Error(`stream did not close within ${options.timeoutMs ?? 20000} ms`));
    }, options.timeoutMs ?? 20000);
    ws.on('open', () => {
      openedAt = performance.now();
      options.onOpen?.(ws);
    });
    ws.on('message', (data: Buffer, isBinary) => {
      if (isBinary) {
        result.firstAudioMs ??= performance.now() - openedAt;
        result.audio.push({ data });
        options.onMessage?.(ws, data, true);
        return;
      }
      const message = JSON.parse(data.toString('utf8'));
      if (message.type === 'audio') {
        result.firstAudioMs ??= performance.now() - openedAt;
        result.audio.push({ seq: message.seq, data: Buffer.from(message.data, 'base64') });
      } else {
        result.control.push(message);
        if (message.type === 'eos') result.eos = message;
        if (message.type === 'error') result.error = message;
      }
      options.onMessage?.(ws, message, false);
    });
    ws.on('error', (error) => {
      clearTimeout(guard);
      reject(error);
    });
    ws.on('close', (code, reason) => {
      clearTimeout(guard);
      result.closeCode = code;
      result.closeReason = reason.toString();
      result.totalMs = performance.now() - openedAt;
      result.bytes = Buffer.concat(result.audio.map((a) => a.data));
      resolve(result);
    });
  });
}
