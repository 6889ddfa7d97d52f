import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';
import type { EgressLimits } from './egress-limits.js';
import { handleConnect } from './http-connect.js';
import { forwardHttp, forwardUpgrade } from './http-forward.js';
import { rawHttpRefusal } from './http-refusal.js';
import type { ProxyContext } from './proxy-context.js';
import { SocketReader } from './socket-reader.js';
import { handleSocks5 } from './socks5.js';
import { answerAndClose } from './tunnel.js';

/**
 * Sends a connection to the protocol its first byte names: 0x05 is SOCKS5, a capital letter
 * an HTTP method. SOCKS4 (0x04) gets its "rejected" reply, a TLS handshake (0x16, a client
 * told https:// for the proxy) an explanation, anything else a 400.
 */
export async function dispatchConnection(
  socket: Socket,
  http: HttpServer,
  context: ProxyContext,
  signal: AbortSignal,
): Promise<void> {
  const reader = new SocketReader(socket, signal);
  const first = await reader.read(1);
  socket.unshift(first);
  const byte = first[0] ?? 0;
  if (byte === 0x05) return handleSocks5(socket, context, reader, signal);
  reader.release();
  if (byte >= 0x41 && byte <= 0x5a) return void http.emit('connection', socket);
  if (byte === 0x04) return answerAndClose(socket, Buffer.from([0x00, 0x5b, 0, 0, 0, 0, 0, 0]));
  const why =
    byte === 0x16
      ? 'this proxy speaks plain HTTP and SOCKS5, not TLS: use http:// in HTTPS_PROXY, not https://'
      : 'this is an HTTP and SOCKS5 proxy, and the request is neither';
  answerAndClose(socket, rawHttpRefusal('invalid', why));
}

/**
 * The HTTP side: node's parser (llhttp) with the proxy's caps, its requests forwarded, its
 * CONNECTs and Upgrades checked and tunnelled. It never listens: connections reach it from
 * dispatchConnection.
 */
export function proxyHttpServer(context: ProxyContext, limits: EgressLimits): HttpServer {
  const server = createHttpServer({
    maxHeaderSize: limits.maxHeaderBytes,
    requireHostHeader: false,
    headersTimeout: limits.handshakeTimeoutMs,
    requestTimeout: 0,
    keepAliveTimeout: 5_000,
    connectionsCheckingInterval: Math.min(1000, limits.handshakeTimeoutMs),
  });
  server.timeout = limits.idleTimeoutMs;
  server.on(
    'request',
    (req, res) => void forwardHttp(req, res, context).catch(() => res.destroy()),
  );
  server.on(
    'connect',
    (req, socket: Socket, head: Buffer) =>
      void handleConnect(req, socket, head, context).catch(() => socket.destroy()),
  );
  server.on(
    'upgrade',
    (req, socket: Socket, head: Buffer) =>
      void forwardUpgrade(req, socket, head, context).catch(() => socket.destroy()),
  );
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable || error.code === 'ECONNRESET') return void socket.destroy();
    const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
    const reason = tooLarge
      ? `the request's line and headers are over ${limits.maxHeaderBytes} bytes`
      : `the request is not valid HTTP/1.1 (${error.code ?? error.message})`;
    answerAndClose(socket, rawHttpRefusal(tooLarge ? 'too-large' : 'invalid', reason));
  });
  return server;
}
