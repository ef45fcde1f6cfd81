import type { INestApplicationContext } from '@nestjs/common';
import { Logger } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import * as http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import type { AuthenticatedUpgrade, Caller } from '../auth/caller';

export interface StreamWsAdapterOptions {
  maxPayloadBytes: number;
  /** Browser origins allowed to open sockets from another origin; `*` allows any. */
  allowedOrigins: readonly string[];
  /**
   * The public origin (`https://tts.example.com`) when PUBLIC_BASE_URL is set: the same-origin check then
   * compares with it instead of trusting the request's Host header (DNS rebinding).
   */
  publicOrigin?: string;
  /**
   * Who is upgrading (API keys: the bearer header or a single-use `?token=`), or undefined to refuse with
   * 401 before the upgrade. The result is set on the request as `caller` for the gateway.
   */
  authenticate?: (request: http.IncomingMessage, pathname: string) => Promise<Caller | undefined>;
}

type RoutedServer = WebSocketServer & { path: string };

/**
 * The stock WsAdapter (platform-ws 11) routes an upgrade only when the URL path equals a gateway's `path`
 * exactly and silently destroys the socket otherwise. Our stream URL carries the session id in the path
 * (`/v1/tts/stream/:session_id`), so this subclass routes by prefix, answers other paths with a real HTTP
 * 404 before the upgrade, refuses foreign browser origins with 403 (cross-site WebSocket hijacking), and
 * caps frame size (`maxPayload`; ws defaults to 100 MiB) with compression off.
 *
 * Hardening: nothing that happens on an upgrading socket may reach the process. Every socket gets an
 * `error` listener before anything is written to it (a client that resets the connection before our 404
 * is written would otherwise raise an unhandled `error` event), and the whole handler runs in a try/catch.
 * Only `Upgrade: websocket` requests are taken over: any other Upgrade header (`h2c` from `curl --http2`)
 * is served as the plain HTTP request it also is.
 */
export class StreamWsAdapter extends WsAdapter {
  private readonly log = new Logger('WebSocket');

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

  /**
   * Nest logs every socket error with `logger.error` and a stack. Client protocol errors (invalid UTF-8
   * 1007, frame too large 1009, bad opcodes 1002) and resets are the client's doing: one warn line, no stack.
   */
  override bindErrorHandler(server: WebSocketServer): WebSocketServer {
    server.on('connection', (ws: WebSocket) =>
      ws.on('error', (error: Error & { code?: string }) =>
        this.log.warn(`client socket error: ${error.code ?? error.name}: ${error.message}`),
      ),
    );
    server.on('error', (error: Error) => this.log.warn(`WebSocket server error: ${error.message}`));
    return server;
  }

  protected override ensureHttpServerExists(port: number, httpServer = http.createServer()) {
    if (this.httpServersRegistry.has(port)) return;
    this.httpServersRegistry.set(port, httpServer);
    httpServer.on('upgrade', (request: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      // First, before any write: a reset or EPIPE on this socket must never become an uncaught error.
      socket.on('error', () => socket.destroy());
      try {
        if (!isWebSocketUpgrade(request)) return serveAsHttp(httpServer, request, socket, head);
        const pathname = safePathname(request.url);
        const servers = (this.wsServersRegistry.get(port) ?? []) as RoutedServer[];
        const server =
          pathname === undefined
            ? undefined
            : servers.find((s) => pathname === s.path || pathname.startsWith(`${s.path}/`));
        if (!server) return rejectUpgrade(socket, 404, `no WebSocket endpoint at this path`);
        if (!this.originAllowed(request))
          return rejectUpgrade(socket, 403, 'origin not allowed (CORS_ORIGINS)');
        const authenticate = this.options.authenticate;
        if (!authenticate) {
          server.handleUpgrade(request, socket, head, (ws) => server.emit('connection', ws, request));
          return;
        }
        authenticate(request, pathname as string).then(
          (caller) => {
            if (!caller) {
              return rejectUpgrade(
                socket,
                401,
                'an API key is required: send Authorization: Bearer <key>, or the ?token= of the ws_url',
                {
                  'WWW-Authenticate': 'Bearer realm="tts-gateway"',
                },
              );
            }
            (request as AuthenticatedUpgrade).caller = caller;
            server.handleUpgrade(request, socket, head, (ws) => server.emit('connection', ws, request));
          },
          () => rejectUpgrade(socket, 503, 'authentication is unavailable; retry shortly'),
        );
      } catch (error) {
        this.log.warn(`upgrade refused: ${error instanceof Error ? error.message : String(error)}`);
        rejectUpgrade(socket, 400, 'bad upgrade request');
      }
    });
    return httpServer;
  }

  private originAllowed(request: http.IncomingMessage): boolean {
    const origin = request.headers.origin;
    // Non-browser clients send no Origin; they are not exposed to cross-site hijacking.
    if (!origin || this.options.allowedOrigins.includes('*') || this.options.allowedOrigins.includes(origin))
      return true;
    try {
      const parsed = new URL(origin);
      if (this.options.publicOrigin) return parsed.origin === this.options.publicOrigin;
      return parsed.host === request.headers.host;
    } catch {
      return false;
    }
  }
}

function isWebSocketUpgrade(request: http.IncomingMessage): boolean {
  const upgrade = request.headers.upgrade;
  return typeof upgrade === 'string' && upgrade.toLowerCase() === 'websocket';
}

/** The path of a request target, or undefined when it is not a parseable URL path. */
function safePathname(url: string | undefined): string | undefined {
  try {
    return new URL(url ?? '/', 'http://localhost').pathname;
  } catch {
    return undefined;
  }
}

function rejectUpgrade(
  socket: Duplex,
  status: number,
  message: string,
  headers: Record<string, string> = {},
): void {
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  const code = {
    400: 'bad_request',
    401: 'unauthorized',
    403: 'forbidden',
    404: 'not_found',
    503: 'unavailable',
  }[status];
  const body = JSON.stringify({ statusCode: status, error: http.STATUS_CODES[status], message, code });
  const extra = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\n${extra}` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/**
 * Node hands every request with an `Upgrade` header to the `upgrade` listeners once one exists, and stops
 * parsing it (Node 24.9 added `shouldUpgradeCallback`; Node 20 has no such hook). A request that asks for
 * another protocol (`Upgrade: h2c`) is an ordinary HTTP/1.1 request the server may answer normally
 * (RFC 9110 §7.8), so it goes back to the request handler with a response bound to its socket. Node has
 * already stopped parsing, so a body is taken from `head` and the socket by Content-Length; chunked bodies
 * cannot be re-framed here and get 411.
 */
function serveAsHttp(server: http.Server, upgrade: http.IncomingMessage, socket: Duplex, head: Buffer): void {
  // The parsed request has already ended (Node treats the rest of the connection as the new protocol):
  // a fresh IncomingMessage with the same request line and headers carries the body instead.
  const request = new http.IncomingMessage(socket as Socket);
  request.method = upgrade.method;
  request.url = upgrade.url;
  request.httpVersionMajor = upgrade.httpVersionMajor;
  request.httpVersionMinor = upgrade.httpVersionMinor;
  request.httpVersion = upgrade.httpVersion;
  request.headers = upgrade.headers;
  request.rawHeaders = upgrade.rawHeaders;
  const response = new http.ServerResponse(request);
  response.shouldKeepAlive = false;
  response.assignSocket(socket as Socket);
  response.once('finish', () => {
    response.detachSocket(socket as Socket);
    socket.end();
  });
  if (upgrade.headers['transfer-encoding']) {
    response.statusCode = 411;
    response.setHeader('content-type', 'application/json');
    response.end(
      JSON.stringify({
        statusCode: 411,
        error: 'Length Required',
        message: 'a request with an Upgrade header other than websocket must carry Content-Length',
      }),
    );
    return;
  }
  feedBody(request, socket, head, Number(upgrade.headers['content-length'] ?? 0) || 0);
  server.emit('request', request, response);
}

function feedBody(request: http.IncomingMessage, socket: Duplex, head: Buffer, length: number): void {
  let remaining = length;
  const take = (bytes: Buffer) => {
    const part = bytes.subarray(0, remaining);
    remaining -= part.length;
    if (part.length > 0) request.push(part);
    if (remaining <= 0) {
      socket.off('data', take);
      finish();
    }
  };
  // `complete` first: an IncomingMessage that ends incomplete counts as aborted and destroys its socket.
  const finish = () => {
    request.complete = true;
    request.push(null);
  };
  if (remaining <= 0) {
    finish();
    return;
  }
  take(head);
  if (remaining > 0) socket.on('data', take);
}
