import { connect, createServer, type Server, type Socket } from 'node:net';
import { COMMAND_EGRESS_ENV } from '../core/egress-env.js';
import { IronClawError } from '../core/errors.js';
import type { NetBridgeParamsSchema } from '../protocol/guest-api.js';
import type * as z from 'zod/mini';

/** Connections bridged at once; more are closed at once (the proxy on the host has its own). */
const MAX_CONNECTIONS = 512;

const bridges = new Map<number, { server: Server; socket: string }>();

/**
 * Listens on 127.0.0.1:port inside the box and joins every connection to a new connection to
 * the Unix socket `socket` (the host's egress proxy, bound into the box). Bytes pass as they
 * are: the proxy on the host decides what each connection may reach. Asking again for a port
 * already bridged to the same socket is a no-op.
 */
export async function startNetBridge(
  params: z.infer<typeof NetBridgeParamsSchema>,
): Promise<Record<string, never>> {
  const known = bridges.get(params.port);
  if (known?.socket === params.socket) return {};
  if (known)
    throw new IronClawError(
      'INVALID_ARGUMENT',
      `127.0.0.1:${params.port} in the box is already bridged to ${known.socket}`,
    );
  // Half-open both ways: a client that shuts down its sending side still reads the answer.
  const server = createServer({ noDelay: true, allowHalfOpen: true }, (client) =>
    bridge(client, params.socket),
  );
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
  bridges.set(params.port, { server, socket: params.socket });
  // From now on the box's commands go through the proxy: Node's fetch too (egress-env.ts).
  Object.assign(process.env, COMMAND_EGRESS_ENV);
  return {};
}

function bridge(client: Socket, socketPath: string): void {
  const upstream = connect({ path: socketPath, allowHalfOpen: true });
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
