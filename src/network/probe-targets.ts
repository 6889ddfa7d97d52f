// The host side of the network self-test: loopback servers that the box's probe is pointed at.
// Each records what reached it (the path of every HTTP request names the attack that sent it),
// so a leak shows on the host even if the probe misread its answer.
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { NetProbeConfig } from '../protocol/net-probe-api.js';
import { EGRESS_PORT } from '../core/egress-env.js';

export interface ProbeTargets extends AsyncDisposable {
  /** The probe's configuration, but for `offLoopback`, which depends on where it runs. */
  readonly config: Omit<NetProbeConfig, 'offLoopback'>;
  /** The `--allow-net` rules of the box: the allowed server, and the loopback name's port. */
  readonly rules: readonly string[];
  /** What reached a server no rule allows: `GET /path`, or `udp <first bytes>`. */
  readonly leaks: string[];
  close(): Promise<void>;
}

/**
 * Answers every request with `<kind> <token>` (keep-alive, with a length), recording its path
 * when it is the denied server.
 */
async function httpTarget(
  host: string,
  kind: 'allowed' | 'denied',
  token: string,
  leaks: string[],
): Promise<{ port: number; close(): Promise<void> } | undefined> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((request, response) => {
    if (kind === 'denied') leaks.push(`GET ${request.url ?? ''} on ${host}`.slice(0, 300));
    const body = `${kind} ${token}\n`;
    // A length, not chunks: the probe reads bodies by their length.
    response
      .writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) })
      .end(body);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  const listening = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(0, host, () => resolve(true));
  });
  if (!listening) return undefined;
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A UDP server that answers every datagram, and records it as a leak. */
async function udpTarget(token: string, leaks: string[]): Promise<UdpSocket> {
  const socket = createSocket('udp4');
  socket.on('message', (message, from) => {
    leaks.push(`udp ${JSON.stringify(message.subarray(0, 40).toString('latin1'))}`);
    socket.send(`denied ${token}\n`, from.port, from.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return socket;
}

/**
 * Starts the servers: an allowed one, a denied one on IPv4 and (when the host has IPv6
 * loopback) IPv6 loopback, and a UDP one. Only loopback: nothing here listens elsewhere.
 * `localhost` is the name a rule allows that resolves to loopback: the proxy must refuse it by
 * its address, after resolving (/etc/hosts, no query leaves the host).
 */
export async function startProbeTargets(): Promise<ProbeTargets> {
  const token = randomBytes(12).toString('hex');
  const leaks: string[] = [];
  const started = await Promise.all([
    httpTarget('127.0.0.1', 'allowed', token, leaks),
    httpTarget('127.0.0.1', 'denied', token, leaks),
    httpTarget('::1', 'denied', token, leaks),
  ]);
  const [allowed, denied, denied6] = started;
  const udp = await udpTarget(token, leaks);
  const close = async (): Promise<void> => {
    await Promise.allSettled([
      ...started.map((server) => server?.close()),
      new Promise<void>((resolve) => udp.close(() => resolve())),
    ]);
  };
  if (!allowed || !denied) {
    await close();
    throw new Error('cannot listen on 127.0.0.1 for the network self-test');
  }
  const loopbackName = 'localhost';
  return {
    config: {
      proxy: { host: '127.0.0.1', port: EGRESS_PORT },
      allowed: { host: '127.0.0.1', port: allowed.port },
      denied: { host: '127.0.0.1', port: denied.port },
      deniedIpv6: denied6 ? { host: '::1', port: denied6.port } : null,
      udp: { host: '127.0.0.1', port: udp.address().port },
      loopbackName,
      token,
    },
    rules: [`127.0.0.1:${allowed.port}`, `${loopbackName}:${denied.port}`],
    leaks,
    close,
    [Symbol.asyncDispose]: close,
  };
}
