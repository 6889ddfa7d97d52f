import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { z } from 'zod';
import { IronClawError, unwrap } from '../core/errors.js';
import { checkId } from '../core/ids.js';
import type { AllowRule } from '../core/net/allow-rule.js';
import type { IpAddress } from '../core/net/ip-address.js';
import { allowListDecider, type Decider } from './decider.js';
import { tcpDialer, type Dialer } from './dialer.js';
import type { EgressListener } from './egress-record.js';
import { handleConnect } from './http-connect.js';
import { forwardHttp, forwardUpgrade } from './http-forward.js';
import { rawHttpRefusal } from './http-refusal.js';
import type { ProxyContext } from './proxy-context.js';
import { systemResolver, type Resolver } from './resolver.js';
import { SocketReader } from './socket-reader.js';
import { handleSocks5 } from './socks5.js';
import { answerAndClose } from './tunnel.js';

export const EgressLimitsSchema = z.strictObject({
  /** Request line plus headers of one HTTP request (431 beyond it). */
  maxHeaderBytes: z
    .int()
    .min(1024)
    .max(1024 * 1024)
    .default(16 * 1024),
  /** From accept to a tunnel or a first request: a silent or slow client is closed after it. */
  handshakeTimeoutMs: z.int().positive().default(10_000),
  /** A tunnel or forwarded request with no byte moving either way is closed after it. */
  idleTimeoutMs: z.int().positive().default(300_000),
  /** Per address tried. */
  connectTimeoutMs: z.int().positive().default(10_000),
  /** Client connections at once; more are closed at accept. */
  maxConnections: z.int().positive().max(65_536).default(256),
});
export type EgressLimits = z.infer<typeof EgressLimitsSchema>;

export interface EgressProxyOptions {
  /** The Unix socket to listen on: one proxy per sandbox, so the socket says which box it is. */
  socketPath: string;
  sandbox: string;
  /** The `--allow-net` rules: the default decider's, and the address policy's exceptions. */
  rules: readonly AllowRule[];
  /** Replaces the allow-list decider (an approval-backed one, later). */
  decider?: Decider;
  /** The host's resolver unless a test maps names to loopback servers (staticResolver). */
  resolver?: Resolver;
  dialer?: Dialer;
  hostAddresses?: () => readonly IpAddress[];
  /** Called once per connection or refused request; audit-egress.ts writes it to the audit log. */
  onConnection?: EgressListener;
  limits?: Partial<z.input<typeof EgressLimitsSchema>>;
  /** Closes the proxy when aborted. */
  signal?: AbortSignal;
}

export interface EgressProxy extends AsyncDisposable {
  readonly socketPath: string;
  readonly sandbox: string;
  /** Client connections open now. */
  readonly connections: number;
  /** Stops listening and ends every connection; idempotent. */
  close(): Promise<void>;
}

/** A Unix socket path longer than this does not fit sockaddr_un on Linux. */
const MAX_SOCKET_PATH = 107;

/**
 * The host side of a box's egress: one listener on a Unix socket that speaks HTTP (CONNECT,
 * absolute-form requests, Upgrade) and SOCKS5, told apart by the first byte. Every connection
 * goes through the gate (egress-gate.ts): decider, then resolution, then the address policy,
 * then a dial of the checked address. A client that misbehaves loses its own connection, never
 * the proxy.
 */
export async function startEgressProxy(options: EgressProxyOptions): Promise<EgressProxy> {
  const sandbox = unwrap(checkId(options.sandbox));
  const limits = EgressLimitsSchema.parse(options.limits ?? {});
  if (Buffer.byteLength(options.socketPath) > MAX_SOCKET_PATH)
    throw new IronClawError(
      'INVALID_ARGUMENT',
      `the proxy socket path ${options.socketPath} is over ${MAX_SOCKET_PATH} bytes: use a shorter runtime directory`,
    );
  const closing = new AbortController();
  const clients = new Set<Socket>();
  const upstreams = new Set<Socket>();
  const handshakes = new Map<Socket, NodeJS.Timeout>();
  const context: ProxyContext = {
    gate: {
      sandbox,
      decider: options.decider ?? allowListDecider(options.rules),
      addressPolicy: {
        rules: options.rules,
        ...(options.hostAddresses ? { hostAddresses: options.hostAddresses } : {}),
      },
      resolver: options.resolver ?? systemResolver,
      dialer: options.dialer ?? tcpDialer,
      connectTimeoutMs: limits.connectTimeoutMs,
    },
    onConnection: options.onConnection,
    idleMs: limits.idleTimeoutMs,
    signal: closing.signal,
    track(socket) {
      upstreams.add(socket);
      socket.once('close', () => upstreams.delete(socket));
      if (closing.signal.aborted) socket.destroy();
    },
    established(client) {
      clearTimeout(handshakes.get(client));
      handshakes.delete(client);
    },
  };
  const http = httpServer(context, limits);
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    if (closing.signal.aborted || clients.size >= limits.maxConnections)
      return void socket.destroy();
    clients.add(socket);
    socket.on('error', () => undefined);
    const handshake = new AbortController();
    handshakes.set(
      socket,
      setTimeout(() => handshake.abort(), limits.handshakeTimeoutMs),
    );
    handshake.signal.addEventListener('abort', () => socket.destroy(), { once: true });
    socket.once('close', () => {
      clients.delete(socket);
      context.established(socket);
    });
    void dispatch(socket, http, context, AbortSignal.any([handshake.signal, closing.signal])).catch(
      () => socket.destroy(),
    );
  });
  await listen(server, options.socketPath);
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closed ??= (async () => {
      closing.abort(new IronClawError('SANDBOX_CLOSED', 'the egress proxy closed'));
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const timer of handshakes.values()) clearTimeout(timer);
      for (const socket of [...clients, ...upstreams]) socket.destroy();
      http.close();
      await stopped;
    })());
  options.signal?.addEventListener('abort', () => void close(), { once: true });
  if (options.signal?.aborted) await close();
  return {
    socketPath: options.socketPath,
    sandbox,
    get connections() {
      return clients.size;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Sends a connection to the protocol its first byte names. */
async function dispatch(
  socket: Socket,
  http: ReturnType<typeof httpServer>,
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

function httpServer(context: ProxyContext, limits: EgressLimits) {
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
    const response = rawHttpRefusal('invalid', reason);
    answerAndClose(
      socket,
      tooLarge
        ? response.replace('400 Bad Request', '431 Request Header Fields Too Large')
        : response,
    );
  });
  return server;
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new IronClawError(
          'FILE_ERROR',
          `the egress proxy cannot listen on ${path} (${error.code ?? error.message})`,
          { cause: error },
        ),
      ),
    );
    server.listen({ path, exclusive: true }, () => resolve());
  });
}
