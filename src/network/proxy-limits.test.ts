// The egress proxy under bad clients: floods of silent connections, slow headers, idle
// tunnels, a throwing listener, and close() with everything still open.
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AuditStore } from '../audit/audit-store.js';
import { auditEgress } from './audit-egress.js';
import { staticResolver } from './resolver.js';
import { closed, connectTunnel, echoServer, rawClient, testProxy } from './test-support.js';

const OK = 'HTTP/1.1 200 Connection Established';

async function flood(socketPath: string, count: number, partial = ''): Promise<Socket[]> {
  const sockets = await Promise.all(Array.from({ length: count }, () => rawClient(socketPath)));
  for (const socket of sockets) {
    socket.on('error', () => undefined);
    if (partial) socket.write(partial);
  }
  return sockets;
}

const isOpen = (socket: Socket) => !socket.readableEnded && !socket.destroyed;

async function setUp(limits: Record<string, number>) {
  const echo = await echoServer();
  const resolver = staticResolver({ 'echo.test': '127.0.0.1' });
  const proxy = await testProxy([`echo.test:${echo.port}`, `127.0.0.1:${echo.port}`], {
    resolver,
    limits,
  });
  return {
    echo,
    proxy,
    target: `echo.test:${echo.port}`,
    [Symbol.asyncDispose]: async () => {
      await proxy[Symbol.asyncDispose]();
      await echo[Symbol.asyncDispose]();
    },
  };
}

/** The handshake deadline of the flood test, which its negative control waits past. */
const HANDSHAKE_MS = 1500;

describe('the egress proxy under load and abuse', () => {
  it('closes half-open connections at the handshake deadline, and serves again', async () => {
    await using t = await setUp({ maxConnections: 40, handshakeTimeoutMs: HANDSHAKE_MS });
    const silent = await flood(t.proxy.socketPath, 30);
    const slow = await flood(t.proxy.socketPath, 10, 'CONNECT echo.test:1 HTTP/1.1\r\nHost: x');
    await expect.poll(() => t.proxy.connections).toBe(40);
    // At the cap a new client is closed at once: the flood costs a bounded amount.
    const extra = await rawClient(t.proxy.socketPath);
    await closed(extra);
    await Promise.all([...silent, ...slow].map(closed));
    await expect.poll(() => t.proxy.connections).toBe(0);
    const { socket, head } = await connectTunnel(t.proxy.socketPath, t.target);
    expect(head.startsWith(OK)).toBe(true);
    socket.destroy();
  });

  it('negative control: without the deadline the same flood keeps the proxy full', async () => {
    await using t = await setUp({ maxConnections: 40, handshakeTimeoutMs: 60_000 });
    const silent = await flood(t.proxy.socketPath, 40);
    await expect.poll(() => t.proxy.connections).toBe(40);
    // Time passes on purpose: past the deadline that closed the same flood above. The 60 s one
    // here is far off, so a slow machine only lengthens the wait, never changes the outcome.
    await new Promise((resolve) => setTimeout(resolve, 2 * HANDSHAKE_MS));
    expect(silent.filter(isOpen)).toHaveLength(40);
    const late = await rawClient(t.proxy.socketPath);
    await closed(late);
    for (const socket of silent) socket.destroy();
  });

  it('holds hundreds of half-open connections to the default cap, and serves once they go', async () => {
    await using t = await setUp({ handshakeTimeoutMs: 60_000 });
    const sockets = await flood(t.proxy.socketPath, 300, 'GET http://echo.test/ HTTP/1.1\r\n');
    await expect.poll(() => t.proxy.connections, { timeout: 10_000 }).toBe(256);
    await expect.poll(() => sockets.filter(isOpen).length, { timeout: 10_000 }).toBe(256);
    for (const socket of sockets) socket.destroy();
    await expect.poll(() => t.proxy.connections, { timeout: 10_000 }).toBe(0);
    const { socket, head } = await connectTunnel(t.proxy.socketPath, t.target);
    expect(head.startsWith(OK)).toBe(true);
    socket.destroy();
  });

  it('survives random bytes, and random bytes after a valid start, from many clients (seeded)', async () => {
    await using t = await setUp({ handshakeTimeoutMs: 300 });
    const starts = [
      '',
      '\x05',
      '\x05\x01\x00',
      '\x05\x01\x00\x05\x01\x00\x03',
      'CONNECT ',
      'GET http://',
    ];
    const inputs = fc.sample(
      fc.tuple(fc.constantFrom(...starts), fc.uint8Array({ maxLength: 300 })),
      { seed: 0xbad, numRuns: 120 },
    );
    const clients = await Promise.all(
      inputs.map(async ([start, bytes]) => {
        const socket = await rawClient(t.proxy.socketPath);
        socket.on('error', () => undefined);
        socket.write(Buffer.concat([Buffer.from(start, 'latin1'), bytes]));
        return socket;
      }),
    );
    await Promise.all(clients.map(closed));
    const { socket, head } = await connectTunnel(t.proxy.socketPath, t.target);
    expect(head.startsWith(OK)).toBe(true);
    socket.destroy();
    expect(t.echo.accepted).toBe(1);
  });

  it('closes a tunnel with nothing moving for the idle timeout, and says why', async () => {
    await using t = await setUp({ idleTimeoutMs: 300 });
    const { socket, head } = await connectTunnel(t.proxy.socketPath, t.target);
    expect(head.startsWith(OK)).toBe(true);
    await closed(socket);
    await expect.poll(() => t.proxy.records[0]?.error).toBe('idle for 300 ms');
  });

  it('keeps serving when the connection listener throws', async () => {
    await using echo = await echoServer();
    const resolver = staticResolver({ 'echo.test': '127.0.0.1' });
    await using proxy = await testProxy([`echo.test:${echo.port}`], {
      resolver,
      onConnection: () => {
        throw new Error('listener bug');
      },
    });
    for (let i = 0; i < 2; i++) {
      const { head } = await connectTunnel(proxy.socketPath, `echo.test:${echo.port}`);
      expect(head).toMatch(/^HTTP\/1\.1 403 /);
    }
  });

  it('close() ends tunnels and pending handshakes, removes the socket, and is idempotent', async () => {
    const t = await setUp({});
    const { socket, head } = await connectTunnel(t.proxy.socketPath, t.target);
    expect(head.startsWith(OK)).toBe(true);
    const [pending] = await flood(t.proxy.socketPath, 1, 'CONNECT ');
    const first = t.proxy.close();
    expect(t.proxy.close()).toBe(first);
    await first;
    await Promise.all([closed(socket), closed(pending!)]);
    expect(existsSync(t.proxy.socketPath)).toBe(false);
    await t[Symbol.asyncDispose]();
    await expect(rawClient(t.proxy.socketPath)).rejects.toThrow(/ENOENT|ECONNREFUSED/);
  });

  it('is closed by its signal, and refuses a socket path that is taken or too long', async () => {
    const controller = new AbortController();
    await using t = await setUp({});
    await expect(testProxy([], { socketPath: t.proxy.socketPath })).rejects.toMatchObject({
      code: 'FILE_ERROR',
    });
    await expect(testProxy([], { socketPath: `/tmp/${'x'.repeat(120)}` })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(testProxy([], { sandbox: '../etc' })).rejects.toMatchObject({
      code: 'INVALID_ID',
    });
    await using other = await testProxy([], { signal: controller.signal });
    controller.abort();
    await expect.poll(() => existsSync(other.socketPath)).toBe(false);
  });

  it('writes every connection to the audit store through auditEgress', async () => {
    await using echo = await echoServer();
    const resolver = staticResolver({ 'echo.test': '127.0.0.1' });
    await using proxy = await testProxy([`echo.test:${echo.port}`], {
      resolver,
      sandbox: 'sb-audited',
      onConnection: auditEgress,
    });
    await connectTunnel(proxy.socketPath, `echo.test:${echo.port}`);
    const events = async () => {
      using store = await AuditStore.open();
      return store.query({ sandbox: 'sb-audited' });
    };
    await expect.poll(events).toHaveLength(1);
    expect((await events())[0]).toMatchObject({ kind: 'egress', status: 'info' });
    expect((await events())[0]?.data).toMatchObject({
      protocol: 'connect',
      host: 'echo.test',
      address: '127.0.0.1',
      decision: 'denied',
      reason: expect.stringContaining('127.0.0.1 is a loopback address') as string,
    });
  });
});
