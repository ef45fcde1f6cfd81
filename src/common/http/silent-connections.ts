import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Closes a connection that has sent nothing `ms` after it opened: a browser's unused preconnect, a port
 * scan, or a client holding sockets open without a request (each one a file descriptor, kept forever).
 *
 * Node's own timeouts do not cover it: `headersTimeout` and `requestTimeout` count from a request's first
 * byte, `keepAliveTimeout` from a finished response, and the socket timeout (`server.timeout`, Fastify's
 * `connectionTimeout`) would also cut responses and WebSockets that are quiet for a while. Such a connection
 * also holds `server.close()` (it is not idle: no request finished on it), so a drain waited on it.
 * Hand-written: no library answers "closed if silent since connect"; it is one timer per connection, checked
 * against the bytes the socket has read (counted also while Node's HTTP parser reads the socket natively).
 */
export function closeSilentConnections(server: Server, ms: number): void {
  server.on('connection', (socket: Socket) => {
    const timer = setTimeout(() => {
      if (socket.bytesRead === 0) socket.destroy();
    }, ms);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  });
}
