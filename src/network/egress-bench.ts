// The egress rows of `npm run bench` (bundled to dist/egress-bench.mjs, which bench/egress-rows.mjs
// imports from its snapshot of the package): loopback servers, our proxy on a Unix socket as a
// box gets it, and the measurements, each taken direct and through proxies in turns within one
// run, so that the ratios, which are what counts, see the same load.
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unwrap } from '../core/errors.js';
import { parseAllowRules } from '../core/net/allow-rule.js';
import { startEgressProxy } from './egress-proxy.js';

/** Opens a connection to a bench server, directly or through a proxy's tunnel. */
export type OpenTcp = (port: number) => Promise<Socket>;

export interface BenchServers extends AsyncDisposable {
  /** Sends back what it gets. */
  echoPort: number;
  /** Reads a 4-byte big-endian count, sends that many bytes, and ends. */
  sourcePort: number;
}

async function listening(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** The echo and source servers, on 127.0.0.1. */
export async function startBenchServers(): Promise<BenchServers> {
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  };
  const echo = createServer({ noDelay: true }, (socket) => {
    track(socket);
    socket.pipe(socket);
  });
  const chunk = Buffer.alloc(256 * 1024, 0x61);
  const source = createServer({ noDelay: true }, (socket) => {
    track(socket);
    socket.once('data', (head: Buffer) => {
      let left = head.readUInt32BE(0);
      const send = (): void => {
        while (left > 0) {
          const part = left >= chunk.length ? chunk : chunk.subarray(0, left);
          left -= part.length;
          if (!socket.write(part)) return void socket.once('drain', send);
        }
        socket.end();
      };
      send();
    });
  });
  const [echoPort, sourcePort] = await Promise.all([listening(echo), listening(source)]);
  const close = (): Promise<void> => {
    for (const socket of sockets) socket.destroy();
    return Promise.all(
      [echo, source].map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
    ).then(() => undefined);
  };
  return { echoPort, sourcePort, [Symbol.asyncDispose]: close };
}

function opened(socket: Socket): Promise<Socket> {
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** A direct TCP connection to 127.0.0.1. */
export const openDirect: OpenTcp = (port) =>
  opened(connect({ host: '127.0.0.1', port, noDelay: true }));

/**
 * A CONNECT tunnel to 127.0.0.1:port through an HTTP proxy at `proxy` (a Unix socket path, or a
 * TCP port on 127.0.0.1): the tunnel is ready once the 200's head has come.
 */
export function openThroughProxy(proxy: string | number): OpenTcp {
  return async (port) => {
    const socket = await opened(
      typeof proxy === 'string'
        ? connect({ path: proxy })
        : connect({ host: '127.0.0.1', port: proxy, noDelay: true }),
    );
    socket.write(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    await new Promise<void>((resolve, reject) => {
      let head = Buffer.alloc(0);
      const onData = (chunk: Buffer): void => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onData);
        socket.pause();
        if (!head.subarray(0, 12).toString().endsWith(' 200'))
          return reject(new Error(`the proxy refused: ${head.subarray(0, end).toString()}`));
        if (head.length > end + 4) socket.unshift(head.subarray(end + 4));
        resolve();
      };
      socket.on('data', onData);
      socket.once('error', reject);
    });
    return socket;
  };
}

/** Our egress proxy on a Unix socket, allowing 127.0.0.1 on exactly the given ports. */
export async function startBenchProxy(
  ports: readonly number[],
): Promise<{ socketPath: string } & AsyncDisposable> {
  const dir = await mkdtemp(join(tmpdir(), 'ironclaw-bench-egress-'));
  const proxy = await startEgressProxy({
    socketPath: join(dir, 'proxy.sock'),
    sandbox: 'bench',
    rules: unwrap(parseAllowRules(ports.map((port) => `127.0.0.1:${port}`))),
  });
  return {
    socketPath: proxy.socketPath,
    [Symbol.asyncDispose]: async () => {
      await proxy.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Milliseconds for: connect (and tunnel), one 4-byte round trip to the echo server, close. */
export async function timeRequest(open: OpenTcp, echoPort: number): Promise<number> {
  const started = performance.now();
  const socket = await open(echoPort);
  await new Promise<void>((resolve, reject) => {
    socket.once('data', () => resolve());
    socket.once('error', reject);
    socket.resume();
    socket.write('ping');
  });
  const ms = performance.now() - started;
  socket.destroy();
  return ms;
}

/** Bytes per second of one download of `bytes` from the source server, to its end. */
export async function timeDownload(
  open: OpenTcp,
  sourcePort: number,
  bytes: number,
): Promise<number> {
  const started = performance.now();
  const socket = await open(sourcePort);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(bytes, 0);
  let got = 0;
  await new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => (got += chunk.length));
    socket.once('end', () => resolve());
    socket.once('error', reject);
    socket.resume();
    socket.write(head);
  });
  socket.destroy();
  if (got !== bytes) throw new Error(`the download brought ${got} bytes of ${bytes}`);
  return bytes / ((performance.now() - started) / 1000);
}
