import { createServer, type Server, type Socket } from 'node:net';
import type { z } from 'zod';
import { IronClawError, unwrap } from '../core/errors.js';
import { checkId } from '../core/ids.js';
import type { AllowRule } from '../core/net/allow-rule.js';
import type { IpAddress } from '../core/net/ip-address.js';
import { allowListDecider, type Decider } from './decider.js';
import { tcpDialer, type Dialer } from './dialer.js';
import type { EgressListener } from './egress-record.js';
import { EgressLimitsSchema } from './egress-limits.js';
import { dispatchConnection, proxyHttpServer } from './protocol-dispatch.js';
import type { ProxyContext } from './proxy-context.js';
import { systemResolver, type Resolver } from './resolver.js';

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
  /** Called once per connection or refused request; audit-egress.ts writes it to the audit store. */
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
  const http = proxyHttpServer(context, limits);
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
    void dispatchConnection(
      socket,
      http,
      context,
      AbortSignal.any([handshake.signal, closing.signal]),
    ).catch(() => socket.destroy());
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
