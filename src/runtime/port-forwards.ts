import { createServer, type Server, type Socket } from 'node:net';
import { IronClawError } from '../core/errors.js';
import { EmptyResultSchema, OutputEventSchema } from '../protocol/guest-api.js';
import type { RpcClient } from '../protocol/rpc-client.js';

/** A port to publish: `hostPort` 0 takes any free one. */
export interface PortSpec {
  boxPort: number;
  hostPort: number;
  /** Where the host listens: loopback unless the caller says otherwise. */
  address: string;
}

export interface PublishedPort {
  boxPort: number;
  hostPort: number;
  address: string;
  url: string;
}

/** What a published port needs of a sandbox: a connection to its loopback. */
export interface PortTarget {
  connectPort(port: number, socket: Socket): Promise<void>;
}

/**
 * Joins a host connection to 127.0.0.1:port in the box through the guest agent's channel (the
 * driver's byte stream, the same on every driver): no network namespace is opened and the box
 * gains no route out. Each side's pace holds the other back. Resolves when the connection ends.
 */
export async function pipeToPort(client: RpcClient, port: number, socket: Socket): Promise<void> {
  const controller = new AbortController();
  const call = client.call('port_connect', { port }, EmptyResultSchema, {
    signal: controller.signal,
    onEvent: (_event, data) => {
      const parsed = OutputEventSchema.safeParse(data);
      if (!parsed.success || socket.destroyed) return;
      if (socket.write(Buffer.from(parsed.data.data, 'base64'))) return;
      client.pauseReading(
        new Promise((resolve) => socket.once('drain', resolve).once('close', resolve)),
      );
    },
  });
  socket.on('data', (chunk: Buffer) => {
    if (call.input(chunk)) return;
    socket.pause();
    void client.drained().then(() => socket.resume());
  });
  socket.once('end', () => call.input(undefined, true));
  socket.once('close', () => controller.abort());
  socket.on('error', () => controller.abort());
  try {
    await call.result;
    socket.end();
  } catch {
    socket.destroy();
  }
}

/**
 * The host listeners of a sandbox's published ports (`sandbox create -p`). Every accepted
 * connection becomes one connection in the box; a failed one ends that connection only.
 */
export class PortForwards {
  readonly ports: readonly PublishedPort[];
  readonly #servers: Server[];
  readonly #sockets = new Set<Socket>();
  #closed = false;

  private constructor(ports: PublishedPort[], servers: Server[]) {
    this.ports = ports;
    this.#servers = servers;
  }

  /** Listens for every spec, or none: a port that cannot be had closes those already open. */
  static async open(target: PortTarget, specs: readonly PortSpec[]): Promise<PortForwards> {
    const servers: Server[] = [];
    const ports: PublishedPort[] = [];
    const forwards = new PortForwards(ports, servers);
    try {
      for (const spec of specs) {
        const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
          forwards.#sockets.add(socket);
          socket.once('close', () => forwards.#sockets.delete(socket));
          target.connectPort(spec.boxPort, socket).catch(() => socket.destroy());
        });
        servers.push(server);
        await new Promise<void>((resolve, reject) => {
          server.once('error', (error: NodeJS.ErrnoException) =>
            reject(
              new IronClawError(
                'INVALID_ARGUMENT',
                `cannot publish box port ${spec.boxPort} on ${spec.address}:${spec.hostPort}: ${error.code === 'EADDRINUSE' ? 'that port is in use on the host; pick another, or give only the box port for a free one' : (error.code ?? error.message)}`,
              ),
            ),
          );
          server.listen({ host: spec.address, port: spec.hostPort }, resolve);
        });
        server.on('error', () => undefined);
        const address = server.address();
        const hostPort = typeof address === 'object' && address ? address.port : spec.hostPort;
        const host = spec.address.includes(':') ? `[${spec.address}]` : spec.address;
        ports.push({ ...spec, hostPort, url: `http://${host}:${hostPort}/` });
      }
    } catch (error) {
      await forwards.close();
      throw error;
    }
    return forwards;
  }

  /** Stops listening and ends every connection. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const socket of this.#sockets) socket.destroy();
    await Promise.allSettled(
      this.#servers.map((server) => new Promise((resolve) => server.close(resolve))),
    );
  }
}
