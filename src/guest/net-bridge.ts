import { connect, createServer, type Server, type Socket } from 'node:net';
import { IronClawError } from '../core/errors.js';
import type { NetBridgeParamsSchema } from '../protocol/guest-api.js';
import type { RequestContext } from '../protocol/rpc-server.js';
import type { StreamMux } from '../protocol/stream-mux.js';
import type * as z from 'zod/mini';

/** Connections bridged at once; more are closed at once (the proxy on the host has its own). */
const MAX_CONNECTIONS = 512;

/** Where a bridge sends its connections: a Unix socket in the box, or the host channel. */
type Target = { socket: string } | { streams: StreamMux };

const bridges = new Map<number, { server: Server; target: Target }>();

/** What the bridges add to every command's environment (see NetBridgeParamsSchema). */
let addedEnv: Readonly<Record<string, string>> = {};

/** The variables every command gets on top of the agent's own (the egress proxy's). */
export function bridgeEnv(): Readonly<Record<string, string>> {
  return addedEnv;
}

/**
 * Listens on 127.0.0.1:port inside the box and joins every connection to the host's egress
 * proxy: a new connection to the Unix socket bound into the box, or a new stream over the
 * channel of the session that asked (a VM's; a later session asking again takes the bridge
 * over, since the old one's streams died with it). Bytes pass as they are: the proxy on the
 * host decides what each connection may reach. Asking again for a port already bridged to the
 * same socket is a no-op.
 */
export async function startNetBridge(
  params: z.infer<typeof NetBridgeParamsSchema>,
  context: Pick<RequestContext, 'streams'>,
): Promise<Record<string, never>> {
  const target = bridgeTarget(params, context);
  if (params.env) addedEnv = { ...addedEnv, ...params.env };
  const known = bridges.get(params.port);
  if (known && 'streams' in known.target && 'streams' in target) {
    known.target = target;
    return {};
  }
  if (known && 'socket' in known.target && 'socket' in target) {
    if (known.target.socket === target.socket) return {};
  }
  if (known)
    throw new IronClawError(
      'INVALID_ARGUMENT',
      `127.0.0.1:${params.port} in the box is already bridged elsewhere`,
    );
  // Half-open both ways: a client that shuts down its sending side still reads the answer.
  const server = createServer({ noDelay: true, allowHalfOpen: true }, (client) => {
    const current = bridges.get(params.port);
    if (current) bridge(client, current.target);
    else client.destroy();
  });
  server.maxConnections = MAX_CONNECTIONS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new IronClawError(
          'INVALID_ARGUMENT',
          `cannot listen on 127.0.0.1:${params.port} in the box: ${error.code ?? error.message}`,
        ),
      ),
    );
    server.listen({ host: '127.0.0.1', port: params.port }, resolve);
  });
  // Never a crash of the agent: a failed accept or a reset ends that connection only.
  server.on('error', () => undefined);
  bridges.set(params.port, { server, target });
  return {};
}

function bridgeTarget(
  params: z.infer<typeof NetBridgeParamsSchema>,
  context: Pick<RequestContext, 'streams'>,
): Target {
  if (params.channel === true && params.socket === undefined) return { streams: context.streams };
  if (params.socket !== undefined && params.channel === undefined) return { socket: params.socket };
  throw new IronClawError(
    'INVALID_ARGUMENT',
    'invalid net_bridge request: give either socket (a Unix socket in the box) or channel: true',
  );
}

function bridge(client: Socket, target: Target): void {
  if ('streams' in target) {
    // A session that is gone refuses (the socket is destroyed): the host is not listening.
    target.streams.open(client);
    return;
  }
  const upstream = connect({ path: target.socket, allowHalfOpen: true });
  // Either side failing or closing for good ends both; an orderly end (FIN) is passed on by pipe.
  const end = (): void => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', end).on('close', end);
  upstream.on('error', end).on('close', end);
  client.pipe(upstream);
  upstream.pipe(client);
}
