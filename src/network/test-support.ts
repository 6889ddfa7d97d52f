// Loopback servers and raw clients for the egress proxy's tests: real sockets, nothing mocked.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unwrap } from '../core/errors.js';
import { parseAllowRules } from '../core/net/allow-rule.js';
import type { Dialer } from './dialer.js';
import type { EgressRecord } from './egress-record.js';
import { startEgressProxy, type EgressProxy, type EgressProxyOptions } from './egress-proxy.js';
import { tcpDialer } from './dialer.js';

export interface LoopbackServer extends AsyncDisposable {
  port: number;
  /** Connections accepted so far. */
  accepted: number;
  /** Every byte each connection sent, in order of connection. */
  received: Buffer[];
}

async function listening(server: Server, host: string): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return (server.address() as AddressInfo).port;
}

function disposer(server: Server, sockets: Set<Socket>): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
}

/** A TCP server that sends back what it gets, and records it. */
export async function echoServer(host = '127.0.0.1'): Promise<LoopbackServer> {
  const sockets = new Set<Socket>();
  const state = { accepted: 0, received: [] as Buffer[] };
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    state.accepted += 1;
    sockets.add(socket);
    const index = state.received.push(Buffer.alloc(0)) - 1;
    socket.on('data', (chunk: Buffer) => {
      state.received[index] = Buffer.concat([state.received[index]!, chunk]);
    });
    socket.on('error', () => undefined);
    socket.pipe(socket);
  });
  const port = await listening(server, host);
  return Object.assign(state, { port, [Symbol.asyncDispose]: disposer(server, sockets) });
}

/** An HTTP server that answers with the request it saw, as JSON. */
export async function httpEchoServer(): Promise<LoopbackServer> {
  const sockets = new Set<Socket>();
  const state = { accepted: 0, received: [] as Buffer[] };
  const server = createHttpServer({ maxHeaderSize: 1024 * 1024 }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = JSON.stringify({
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      });
      res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'yes' }).end(body);
    });
  });
  server.on('connection', (socket) => {
    state.accepted += 1;
    sockets.add(socket);
  });
  const port = await listening(server, '127.0.0.1');
  return Object.assign(state, {
    port,
    [Symbol.asyncDispose]: disposer(server as unknown as Server, sockets),
  });
}

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A proxy on a fresh socket path in a temporary directory, removed when disposed. */
export async function testProxy(
  rules: string[],
  options: Partial<EgressProxyOptions> = {},
): Promise<EgressProxy & { records: EgressRecord[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'ironclaw-egress-'));
  const records: EgressRecord[] = [];
  const proxy = await startEgressProxy({
    socketPath: join(dir, 'proxy.sock'),
    sandbox: 'sb-test',
    rules: unwrap(parseAllowRules(rules)),
    onConnection: (record) => records.push(record),
    ...options,
  });
  const dispose = async (): Promise<void> => {
    await proxy.close();
    await rm(dir, { recursive: true, force: true });
  };
  return {
    socketPath: proxy.socketPath,
    sandbox: proxy.sandbox,
    get connections() {
      return proxy.connections;
    },
    records,
    close: () => proxy.close(),
    [Symbol.asyncDispose]: dispose,
  };
}

/**
 * A dialer standing in for the internet: it records every address it is asked for and connects
 * to a loopback port instead, so a test can use public-looking addresses without leaving the
 * machine.
 */
export function redirectingDialer(to: Record<string, number>): Dialer & { dialed: string[] } {
  const dialed: string[] = [];
  const dialer: Dialer = (address, port, signal) => {
    dialed.push(`${address}:${port}`);
    const local = to[address];
    if (local === undefined)
      return Promise.reject(new Error(`test dialer: ${address} is not mapped`));
    return tcpDialer('127.0.0.1', local, signal);
  };
  return Object.assign(dialer, { dialed });
}

/** A raw client connection to the proxy. */
export async function rawClient(socketPath: string): Promise<Socket> {
  const socket = connect({ path: socketPath, allowHalfOpen: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

/** Reads from a socket until `done` says the bytes so far are enough, or it closes. */
export function readUntil(
  socket: Socket,
  done: (bytes: Buffer) => boolean,
  timeoutMs = 5000,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let bytes = Buffer.alloc(0);
    const finish = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', finish);
      socket.off('end', finish);
      resolve(bytes);
    };
    const onData = (chunk: Buffer): void => {
      bytes = Buffer.concat([bytes, chunk]);
      if (done(bytes)) finish();
    };
    const timer = setTimeout(
      () =>
        reject(new Error(`no answer in ${timeoutMs} ms; got ${JSON.stringify(bytes.toString())}`)),
      timeoutMs,
    );
    socket.on('data', onData);
    socket.once('close', finish);
    socket.once('end', finish);
  });
}

/** Everything until the socket closes. */
export const readAll = (socket: Socket): Promise<Buffer> => readUntil(socket, () => false);

/** An HTTP response head (and whatever came with it). */
export const readHead = (socket: Socket): Promise<Buffer> =>
  readUntil(socket, (bytes) => bytes.includes('\r\n\r\n'));

/** Sends a CONNECT and returns the client socket and the proxy's answer head. */
export async function connectTunnel(
  socketPath: string,
  authority: string,
  extra = '',
): Promise<{ socket: Socket; head: string }> {
  const socket = await rawClient(socketPath);
  socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n${extra}`);
  const head = (await readHead(socket)).toString();
  return { socket, head };
}

/** Resolves when the other side ended the connection, or the socket closed. */
export function closed(socket: Socket): Promise<void> {
  if (socket.closed || socket.readableEnded) return Promise.resolve();
  return new Promise((resolve) => {
    socket.once('close', () => resolve());
    socket.once('end', () => resolve());
    socket.resume();
  });
}

/**
 * A TCP listener on loopback that relays each connection to the proxy's Unix socket: what the
 * in-box bridge will do, so tools that only take host:port for a proxy can be tested.
 */
export async function loopbackBridge(socketPath: string): Promise<LoopbackServer> {
  const sockets = new Set<Socket>();
  const state = { accepted: 0, received: [] as Buffer[] };
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    state.accepted += 1;
    const proxy = connect({ path: socketPath, allowHalfOpen: true });
    for (const s of [socket, proxy]) {
      sockets.add(s);
      s.on('error', () => {
        socket.destroy();
        proxy.destroy();
      });
    }
    socket.pipe(proxy).pipe(socket);
  });
  const port = await listening(server, '127.0.0.1');
  return Object.assign(state, { port, [Symbol.asyncDispose]: disposer(server, sockets) });
}
