// SOCKS5 through the egress proxy (RFC 1928): CONNECT by name, IPv4 and IPv6, and the reply
// code for everything it refuses.
import { createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { staticResolver } from './resolver.js';
import { SOCKS_REPLY } from './socks5.js';
import { closed, echoServer, rawClient, readUntil, testProxy } from './test-support.js';

type Address = { domain: string } | { v4: number[] } | { v6: number[] } | { type: number };

function request(command: number, address: Address, port: number): Buffer {
  let body: number[];
  if ('domain' in address) body = [0x03, address.domain.length, ...Buffer.from(address.domain)];
  else if ('v4' in address) body = [0x01, ...address.v4];
  else if ('v6' in address) body = [0x04, ...address.v6];
  else body = [address.type, 1, 2, 3, 4];
  return Buffer.from([0x05, command, 0x00, ...body, port >> 8, port & 0xff]);
}

/** Greets, sends one request, and returns the socket and the reply code. */
async function socks(
  socketPath: string,
  address: Address,
  port: number,
  command = 0x01,
): Promise<{ socket: Socket; code: number | undefined }> {
  const socket = await rawClient(socketPath);
  socket.write(Buffer.from([0x05, 0x02, 0x00, 0x02]));
  expect([...(await readUntil(socket, (b) => b.length >= 2))]).toEqual([0x05, 0x00]);
  socket.write(request(command, address, port));
  const reply = await readUntil(socket, (b) => b.length >= 10);
  return { socket, code: reply[1] };
}

const loopback6 = await new Promise<boolean>((resolve) => {
  const server = createServer().once('error', () => resolve(false));
  server.listen(0, '::1', () => server.close(() => resolve(true)));
});

describe('SOCKS5', () => {
  it('connects by domain name (socks5h), resolved by the proxy', async () => {
    await using echo = await echoServer();
    const resolver = staticResolver({ 'echo.test': '127.0.0.1' });
    await using proxy = await testProxy([`echo.test:${echo.port}`, `127.0.0.1:${echo.port}`], {
      resolver,
    });
    const { socket, code } = await socks(proxy.socketPath, { domain: 'echo.test' }, echo.port);
    expect(code).toBe(SOCKS_REPLY.succeeded);
    socket.write('over socks');
    expect((await readUntil(socket, (b) => b.length >= 10)).toString()).toBe('over socks');
    socket.end();
    await closed(socket);
    await expect
      .poll(() => proxy.records[0])
      .toMatchObject({
        protocol: 'socks5',
        host: 'echo.test',
        address: '127.0.0.1',
        decision: 'allowed',
        bytesUp: 10,
        bytesDown: 10,
      });
  });

  it('connects to an IPv4 address a rule names', async () => {
    await using echo = await echoServer();
    await using proxy = await testProxy([`127.0.0.1:${echo.port}`]);
    const { socket, code } = await socks(proxy.socketPath, { v4: [127, 0, 0, 1] }, echo.port);
    expect(code).toBe(SOCKS_REPLY.succeeded);
    socket.destroy();
  });

  it.skipIf(!loopback6)('connects to an IPv6 address a rule names (needs ::1)', async () => {
    await using echo = await echoServer('::1');
    await using proxy = await testProxy([`[::1]:${echo.port}`]);
    const v6 = [...new Array<number>(15).fill(0), 1];
    const { socket, code } = await socks(proxy.socketPath, { v6 }, echo.port);
    expect(code).toBe(SOCKS_REPLY.succeeded);
    socket.write('six');
    expect((await readUntil(socket, (b) => b.length >= 3)).toString()).toBe('six');
    socket.destroy();
  });

  it('refuses what the rules do not allow with "not allowed by ruleset", the reason audited', async () => {
    await using echo = await echoServer();
    const resolver = staticResolver({ 'local.test': '127.0.0.1' });
    await using proxy = await testProxy([`local.test:${echo.port}`], { resolver });
    expect((await socks(proxy.socketPath, { domain: 'denied.test' }, 443)).code).toBe(
      SOCKS_REPLY.notAllowed,
    );
    expect((await socks(proxy.socketPath, { v4: [127, 0, 0, 1] }, echo.port)).code).toBe(
      SOCKS_REPLY.notAllowed,
    );
    expect((await socks(proxy.socketPath, { domain: 'local.test' }, echo.port)).code).toBe(
      SOCKS_REPLY.notAllowed,
    );
    expect((await socks(proxy.socketPath, { v4: [192, 0, 2, 1] }, 443)).code).toBe(
      SOCKS_REPLY.notAllowed,
    );
    expect(echo.accepted).toBe(0);
    await expect.poll(() => proxy.records.length).toBe(4);
    expect(proxy.records.map((r) => r.reason)).toEqual([
      'no --allow-net rule allows denied.test:443; allow it with --allow-net denied.test',
      `no --allow-net rule allows 127.0.0.1:${echo.port}; an address is reached only by a rule naming it with its port (127.0.0.1:${echo.port})`,
      `local.test resolves to 127.0.0.1: 127.0.0.1 is a loopback address; only a rule naming 127.0.0.1:${echo.port} allows it`,
      'no --allow-net rule allows 192.0.2.1:443; an address is reached only by a rule naming it with its port (192.0.2.1:443)',
    ]);
  });

  it('tells a tool that connected to the DNS sentinel to send the name instead', async () => {
    await using proxy = await testProxy(['192.0.2.1:443']);
    expect((await socks(proxy.socketPath, { v4: [192, 0, 2, 1] }, 443)).code).toBe(
      SOCKS_REPLY.notAllowed,
    );
    await expect.poll(() => proxy.records[0]?.reason).toContain("in-box DNS stub's placeholder");
  });

  it('answers BIND and UDP ASSOCIATE "command not supported", unknown types "address type not supported"', async () => {
    await using proxy = await testProxy(['example.com']);
    const domain = { domain: 'example.com' };
    expect((await socks(proxy.socketPath, domain, 443, 0x02)).code).toBe(
      SOCKS_REPLY.commandNotSupported,
    );
    expect((await socks(proxy.socketPath, domain, 443, 0x03)).code).toBe(
      SOCKS_REPLY.commandNotSupported,
    );
    expect((await socks(proxy.socketPath, { type: 0x07 }, 443)).code).toBe(
      SOCKS_REPLY.addressTypeNotSupported,
    );
  });

  it('answers a client that offers no acceptable method, and drops a truncated one', async () => {
    await using proxy = await testProxy(['example.com'], { limits: { handshakeTimeoutMs: 300 } });
    const auth = await rawClient(proxy.socketPath);
    auth.write(Buffer.from([0x05, 0x01, 0x02]));
    expect([...(await readUntil(auth, (b) => b.length >= 2))]).toEqual([0x05, 0xff]);
    const truncated = await rawClient(proxy.socketPath);
    truncated.write(Buffer.from([0x05, 0x01, 0x00, 0x05, 0x01, 0x00, 0x03, 0x20, 0x61]));
    await closed(truncated);
    auth.end();
    await expect.poll(() => proxy.connections).toBe(0);
  });
});
