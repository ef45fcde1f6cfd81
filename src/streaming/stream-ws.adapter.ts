import type { INestApplicationContext } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import * as http from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocketServer } from 'ws';

export interface StreamWsAdapterOptions {
  maxPayloadBytes: number;
  /** Browser origins allowed to open sockets from another origin; `*` allows any. Same-origin always passes. */
  allowedOrigins: readonly string[];
}

type RoutedServer = WebSocketServer & { path: string };

/**
 * The stock WsAdapter (platform-ws 11) routes an upgrade only when the URL path equals a gateway's `path`
 * exactly and silently destroys the socket otherwise. Our stream URL carries the session id in the path
 * (`/v1/tts/stream/:session_id`), so this subclass routes by prefix, answers other paths with a real HTTP
 * 404 before the upgrade, refuses foreign browser origins with 403 (cross-site WebSocket hijacking), and
 * caps frame size (`maxPayload`; ws defaults to 100 MiB) with compression off.
 */
export class StreamWsAdapter extends WsAdapter {
  constructor(
    app: INestApplicationContext,
    private readonly options: StreamWsAdapterOptions,
  ) {
    super(app);
  }

  override create(port: number, options: Record<string, unknown> & { path?: string } = {}): unknown {
    return super.create(port, {
      ...options,
      maxPayload: this.options.maxPayloadBytes,
      perMessageDeflate: false,
    });
  }

  /** Nest's own message dispatch expects `{event,data}`; the gateway owns its protocol on the socket. */
  override bindMessageHandlers(): void {}

  protected override ensureHttpServerExists(port: number, httpServer = http.createServer()) {
    if (this.httpServersRegistry.has(port)) return;
    this.httpServersRegistry.set(port, httpServer);
    httpServer.on('upgrade', (request: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      try {
        const pathname = new URL(request.url ?? '/', 'http://localhost').pathname;
        const servers = (this.wsServersRegistry.get(port) ?? []) as RoutedServer[];
        const server = servers.find((s) => pathname === s.path || pathname.startsWith(`${s.path}/`));
        if (!server) return rejectUpgrade(socket, 404, `no WebSocket endpoint at ${pathname}`);
        if (!this.originAllowed(request))
          return rejectUpgrade(socket, 403, 'origin not allowed (CORS_ORIGINS)');
        server.handleUpgrade(request, socket, head, (ws) => server.emit('connection', ws, request));
      } catch (error) {
        rejectUpgrade(socket, 400, error instanceof Error ? error.message : 'bad upgrade request');
      }
    });
    return httpServer;
  }

  private originAllowed(request: http.IncomingMessage): boolean {
    const origin = request.headers.origin;
    // Non-browser clients send no Origin; they are not exposed to cross-site hijacking.
    if (
      !origin ||
      this.options.allowedOrigins.includes('*') ||
      this.options.allowedOrigins.includes(origin)
    ) {
      return true;
    }
    try {
      return new URL(origin).host === request.headers.host;
    } catch {
      return false;
    }
  }
}

function rejectUpgrade(socket: Duplex, status: number, message: string): void {
  const body = JSON.stringify({ statusCode: status, error: http.STATUS_CODES[status], message });
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
