// The guest agent's vsock transport (src/guest/vsock-channel.ts): node cannot open AF_VSOCK, so
// each host session is one python3 relay process. Here the relay listens on an AF_UNIX path (the
// same program; only its socket family differs) and the host side is our real RPC client; one
// test binds a real AF_VSOCK port, where this machine has vsock.
import { execFile as execFileCallback } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { eventually } from './support/host-processes.js';
import { serveRelayed } from '../src/guest/vsock-channel.js';
import { startNetBridge } from '../src/guest/net-bridge.js';
import { EmptyResultSchema, GUEST_METHODS, PingResultSchema } from '../src/protocol/guest-api.js';
import { RpcClient } from '../src/protocol/rpc-client.js';
import { type Handler, parseParams, RpcServer } from '../src/protocol/rpc-server.js';

const execFile = promisify(execFileCallback);
const PYTHON = '/usr/bin/python3';
const noPython = await execFile(PYTHON, ['-c', 'import socket']).then(
  () => undefined,
  () => `${PYTHON} is missing (the guest image always has it)`,
);
const noVsock =
  noPython ??
  (await execFile(PYTHON, [
    '-c',
    'import socket; socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)',
  ]).then(
    () => undefined,
    () => 'this kernel has no AF_VSOCK sockets',
  ));

let dir: string;
let controller: AbortController;
const logged: string[] = [];
let sessions = 0;
let serving: Promise<void> | undefined;

const handlers: Record<string, Handler> = {
  ping: async () => ({ pid: process.pid, uptimeMs: 1, node: process.version }),
  // The guest agent's own bridge: its loopback port, as streams over this channel.
  net_bridge: (params, context) =>
    startNetBridge(parseParams(GUEST_METHODS.net_bridge.params, params, 'net_bridge'), context),
};

/** One agent session, as the guest agent's main runs it. */
function serveSession(stream: Parameters<Parameters<typeof serveRelayed>[1]>[0]): Promise<void> {
  sessions++;
  return new Promise((resolve) => {
    new RpcServer(stream, handlers, { onClose: () => resolve() });
  });
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ironclaw-relay-'));
  controller = new AbortController();
  logged.length = 0;
  sessions = 0;
});
afterEach(async () => {
  controller.abort();
  await serving;
  serving = undefined;
  await rm(dir, { recursive: true, force: true });
});

function start(address: Parameters<typeof serveRelayed>[0]): void {
  serving = serveRelayed(address, serveSession, (message) => logged.push(message), {
    signal: controller.signal,
  });
}

/** Connects once the relay listens (it starts a moment after, and again after each session). */
async function dial(path: string): Promise<Socket> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const socket = await new Promise<Socket | undefined>((resolve) => {
      const s = connect(path);
      s.once('connect', () => resolve(s));
      s.once('error', () => resolve(undefined));
    });
    if (socket) return socket;
    // A deadline, not a count of tries: under load the relay's python can take seconds to start.
    if (Date.now() > deadline) throw new Error(`nothing listens on ${path} after 60 s`);
    await delay(10);
  }
}

function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) resolve();
    socket.once('close', () => resolve());
  });
}

describe.skipIf(noPython !== undefined)(
  `the guest's relayed agent channel${noPython ? ` [skipped: ${noPython}]` : ''}`,
  () => {
    test('serves one host session after another, each through a fresh relay', async () => {
      const path = join(dir, 'agent.sock');
      start({ unixPath: path });
      for (const round of [1, 2, 3]) {
        const socket = await dial(path);
        const client = new RpcClient(socket, { name: `round ${round}` });
        const ping = await client.request('ping', {}, PingResultSchema, {
          signal: AbortSignal.timeout(5000),
        });
        expect(ping.pid).toBe(process.pid);
        client.close();
        socket.destroy();
        await closed(socket);
      }
      expect(sessions).toBeGreaterThanOrEqual(3);
      expect(logged).toEqual([]);
    });

    test('carries egress connections as streams through the relay, a bulk one whole', async () => {
      const path = join(dir, 'agent.sock');
      const proxyPath = join(dir, 'proxy.sock');
      // Stands where the egress proxy will: echoes what it got once the client has finished.
      const proxy = createServer({ allowHalfOpen: true }, (socket) => {
        const chunks: Buffer[] = [];
        socket.on('data', (chunk: Buffer) => chunks.push(chunk));
        socket.on('end', () => socket.end(Buffer.concat(chunks)));
      });
      await new Promise<void>((resolve) => proxy.listen(proxyPath, resolve));
      start({ unixPath: path });
      const socket = await dial(path);
      const client = new RpcClient(socket, { name: 'relayed guest' });
      client.streams.accept(() => connect({ path: proxyPath, allowHalfOpen: true }));
      // The guest's loopback is this host's here: a free high port on it.
      const port = 40000 + Math.floor(Math.random() * 20000);
      await client.request('net_bridge', { port, channel: true }, EmptyResultSchema);
      const payload = Buffer.alloc(3 * 1024 * 1024);
      for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) % 251;
      const app = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
      app.end(payload);
      const chunks: Buffer[] = [];
      for await (const chunk of app) chunks.push(chunk as Buffer);
      const echoed = Buffer.concat(chunks);
      expect(echoed.length).toBe(payload.length);
      const hash = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
      expect(hash(echoed)).toBe(hash(payload));
      // The stream is gone once both sides closed.
      expect(client.streams.size).toBe(0);
      client.close();
      socket.destroy();
      await new Promise((resolve) => proxy.close(resolve));
    });

    test('a session the agent ends (a bad frame) closes the host’s connection', async () => {
      const path = join(dir, 'agent.sock');
      start({ unixPath: path });
      const socket = await dial(path);
      socket.on('error', () => undefined);
      const said: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => said.push(chunk));
      const header = Buffer.alloc(4);
      header.writeUInt32BE(0xffffffff); // over the frame limit: the agent closes the channel
      socket.write(header);
      await closed(socket);
      // The agent said why before it closed: a fatal frame naming the error.
      expect(Buffer.concat(said).toString()).toContain('FRAME_TOO_LARGE');
      // And the next session works.
      const next = await dial(path);
      const client = new RpcClient(next, { name: 'after' });
      await client.request('ping', {}, PingResultSchema, { signal: AbortSignal.timeout(5000) });
      client.close();
      next.destroy();
      expect(logged).toEqual([]);
    });

    test('a relay that cannot listen is logged with python’s reason, and retried until stopped', async () => {
      start({ unixPath: join(dir, 'no-such-dir', 'agent.sock') });
      // Retried: a second failure is logged (waited for, however slow the machine is).
      await eventually(
        async () => logged.length,
        (count) => count > 1,
        60_000,
      );
      expect(logged.length).toBeGreaterThan(1);
      expect(logged[0]).toMatch(
        /the unix relay on .*no-such-dir.* failed \(1\): .*FileNotFoundError/s,
      );
    });

    test.skipIf(noVsock !== undefined)(
      `binds a real AF_VSOCK port and holds it${noVsock && !noPython ? ` [skipped: ${noVsock}]` : ''}`,
      async () => {
        const port = 40000 + Math.floor(Math.random() * 20000);
        start({ vsockPort: port });
        // A second relay on the same port: whichever binds it first holds it, and the other
        // cannot (no pause decides which, so a slow start of the first changes nothing).
        const second = new AbortController();
        const seen: string[] = [];
        const other = serveRelayed({ vsockPort: port }, serveSession, (m) => seen.push(m), {
          signal: second.signal,
        });
        // The loser's failures are the events: its first, then a retry of it, while the holder
        // keeps the port and stays silent.
        await eventually(
          async () => logged.length + seen.length,
          (count) => count > 1,
          60_000,
        );
        second.abort();
        await other;
        const [holder, loser] = logged.length === 0 ? [logged, seen] : [seen, logged];
        expect(holder).toEqual([]);
        expect(loser[0]).toMatch(/the vsock relay on \d+ failed \(1\): .*Address already in use/s);
      },
    );
  },
);
