// HTTP CONNECT through the egress proxy, on loopback only: each blocking layer is shown
// refusing, then the same request with that layer's exception in place gets through.
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { staticResolver } from './resolver.js';
import {
  closed,
  connectTunnel,
  echoServer,
  readAll,
  readUntil,
  redirectingDialer,
  testProxy,
} from './test-support.js';

const OK = 'HTTP/1.1 200 Connection Established';

async function roundTrip(socket: Socket, text: string): Promise<string> {
  socket.write(text);
  return (await readUntil(socket, (bytes) => bytes.length >= text.length)).toString();
}

describe('CONNECT', () => {
  it('tunnels to an allowed name, resolved by the proxy, and records it', async () => {
    await using echo = await echoServer();
    const resolver = staticResolver({ 'echo.test': '127.0.0.1' });
    await using proxy = await testProxy(['echo.test:' + echo.port, `127.0.0.1:${echo.port}`], {
      resolver,
    });
    const { socket, head } = await connectTunnel(proxy.socketPath, `ECHO.test.:${echo.port}`);
    expect(head).toBe(`${OK}\r\n\r\n`);
    expect(await roundTrip(socket, 'hello')).toBe('hello');
    socket.end();
    await closed(socket);
    await expect.poll(() => proxy.records.length).toBe(1);
    expect(proxy.records[0]).toMatchObject({
      sandbox: 'sb-test',
      protocol: 'connect',
      host: 'echo.test',
      port: echo.port,
      address: '127.0.0.1',
      decision: 'allowed',
      reason: `the rule echo.test:${echo.port} allows echo.test:${echo.port}`,
      bytesUp: 5,
      bytesDown: 5,
    });
    expect(resolver.calls).toEqual(['echo.test']);
  });

  it('refuses a denied name with 403 and the reason, without resolving it', async () => {
    const resolver = staticResolver({ 'denied.test': '127.0.0.1' });
    await using proxy = await testProxy(['allowed.test'], { resolver });
    const { socket, head } = await connectTunnel(proxy.socketPath, 'denied.test:443');
    await closed(socket);
    expect(head).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(head).toContain('proxy-status: ironclaw; error=http_request_denied');
    expect(head).toContain(
      '\r\n\r\nIronClaw egress proxy: no --allow-net rule allows denied.test:443; allow it with --allow-net denied.test\n',
    );
    expect(resolver.calls).toEqual([]);
    expect(proxy.records).toMatchObject([{ host: 'denied.test', decision: 'denied' }]);
  });

  it('refuses an allowed name that resolves to loopback, unless a rule names that address and port', async () => {
    await using echo = await echoServer();
    const resolver = staticResolver({ 'local.test': '127.0.0.1' });
    const rule = `local.test:${echo.port}`;
    {
      await using proxy = await testProxy([rule], { resolver });
      const { head } = await connectTunnel(proxy.socketPath, rule);
      expect(head).toMatch(/^HTTP\/1\.1 403 /);
      expect(head).toContain('error=destination_ip_prohibited');
      expect(head).toContain(
        `local.test resolves to 127.0.0.1: 127.0.0.1 is a loopback address; only a rule naming 127.0.0.1:${echo.port} allows it`,
      );
      expect(echo.accepted).toBe(0);
    }
    // Negative control: the same request with the address named gets through.
    await using proxy = await testProxy([rule, `127.0.0.1:${echo.port}`], { resolver });
    const { socket, head } = await connectTunnel(proxy.socketPath, rule);
    expect(head.startsWith(OK)).toBe(true);
    expect(await roundTrip(socket, 'ping')).toBe('ping');
    socket.destroy();
  });

  it('refuses an IP literal no rule names; a rule naming it lets it through', async () => {
    await using echo = await echoServer();
    {
      await using proxy = await testProxy(['echo.test']);
      const { head } = await connectTunnel(proxy.socketPath, `127.0.0.1:${echo.port}`);
      expect(head).toMatch(/^HTTP\/1\.1 403 /);
      expect(head).toContain(`no --allow-net rule allows 127.0.0.1:${echo.port}`);
      const mapped = await connectTunnel(proxy.socketPath, `[::ffff:127.0.0.1]:${echo.port}`);
      expect(mapped.head).toMatch(/^HTTP\/1\.1 403 /);
    }
    await using proxy = await testProxy([`127.0.0.1:${echo.port}`]);
    const { socket, head } = await connectTunnel(proxy.socketPath, `127.0.0.1:${echo.port}`);
    expect(head.startsWith(OK)).toBe(true);
    socket.destroy();
    expect(echo.accepted).toBe(1);
  });

  it('refuses the cloud metadata address by name and by literal; only a rule naming it passes', async () => {
    await using echo = await echoServer();
    const dialer = redirectingDialer({ '169.254.169.254': echo.port });
    const resolver = staticResolver({
      'metadata.test': '169.254.169.254',
      'nat64.test': '64:ff9b::a9fe:a9fe',
    });
    {
      await using proxy = await testProxy(['metadata.test', 'nat64.test'], { resolver, dialer });
      const byName = await connectTunnel(proxy.socketPath, 'metadata.test:80');
      expect(byName.head).toContain('169.254.169.254 is the cloud metadata service');
      const nat64 = await connectTunnel(proxy.socketPath, 'nat64.test:80');
      expect(nat64.head).toContain('is the NAT64 form of 169.254.169.254 is the cloud metadata');
      const literal = await connectTunnel(proxy.socketPath, '169.254.169.254:80');
      expect(literal.head).toMatch(/^HTTP\/1\.1 403 /);
      expect(dialer.dialed).toEqual([]);
    }
    // Negative control: named with its port, it is dialed (by the stand-in dialer).
    await using proxy = await testProxy(['metadata.test', '169.254.169.254:80'], {
      resolver,
      dialer,
    });
    const { socket, head } = await connectTunnel(proxy.socketPath, 'metadata.test:80');
    expect(head.startsWith(OK)).toBe(true);
    socket.destroy();
    expect(dialer.dialed).toEqual(['169.254.169.254:80']);
  });

  it('dials the address it checked: a name that rebinds to 127.0.0.1 gains nothing', async () => {
    await using echo = await echoServer();
    // The first answer is public-looking, the second loopback: a proxy that resolved again to
    // connect (or let the system do it) would reach the host's loopback.
    const resolver = staticResolver({ 'rebind.test': [['93.184.215.14'], ['127.0.0.1']] });
    const dialer = redirectingDialer({ '93.184.215.14': echo.port });
    await using proxy = await testProxy(['rebind.test'], { resolver, dialer });
    const first = await connectTunnel(proxy.socketPath, 'rebind.test:443');
    expect(first.head.startsWith(OK)).toBe(true);
    first.socket.destroy();
    expect(resolver.calls).toEqual(['rebind.test']);
    expect(dialer.dialed).toEqual(['93.184.215.14:443']);
    // The next connection resolves afresh, gets the loopback answer, and is refused.
    const second = await connectTunnel(proxy.socketPath, 'rebind.test:443');
    expect(second.head).toContain(
      'rebind.test resolves to 127.0.0.1: 127.0.0.1 is a loopback address',
    );
    expect(dialer.dialed).toEqual(['93.184.215.14:443']);
  });

  it('refuses a name whose answers mix a public address with a private one', async () => {
    const resolver = staticResolver({ 'mixed.test': [['93.184.215.14', '10.0.0.7']] });
    const dialer = redirectingDialer({});
    await using proxy = await testProxy(['mixed.test'], { resolver, dialer });
    const { head } = await connectTunnel(proxy.socketPath, 'mixed.test:443');
    expect(head).toContain('mixed.test resolves to 10.0.0.7: 10.0.0.7 is a private-range address');
    expect(dialer.dialed).toEqual([]);
  });

  it('refuses the host own addresses', async () => {
    const resolver = staticResolver({ 'self.test': '93.184.215.14' });
    const dialer = redirectingDialer({});
    const hostAddresses = () => [{ family: 4 as const, bytes: new Uint8Array([93, 184, 215, 14]) }];
    await using proxy = await testProxy(['self.test'], { resolver, dialer, hostAddresses });
    const { head } = await connectTunnel(proxy.socketPath, 'self.test:443');
    expect(head).toContain('93.184.215.14 is an address of this host');
    expect(dialer.dialed).toEqual([]);
  });

  it('never opens the second hop of a CONNECT sent inside (or pipelined after) an allowed one', async () => {
    await using relay = await echoServer();
    await using denied = await echoServer();
    const resolver = staticResolver({ 'relay.test': '127.0.0.1', 'denied.test': '127.0.0.1' });
    const rules = [`relay.test:${relay.port}`, `127.0.0.1:${relay.port}`];
    const inner = `CONNECT denied.test:${denied.port} HTTP/1.1\r\nHost: denied.test\r\n\r\n`;
    {
      await using proxy = await testProxy(rules, { resolver });
      // The inner request rides in the same write as the outer one.
      const { socket, head } = await connectTunnel(
        proxy.socketPath,
        `relay.test:${relay.port}`,
        inner,
      );
      const answer = head.startsWith(OK) ? head.slice(OK.length + 4) : head;
      const echoed =
        answer +
        (await readUntil(socket, (b) => answer.length + b.length >= inner.length)).toString();
      expect(echoed).toBe(inner);
      socket.write(inner);
      expect((await readUntil(socket, (b) => b.length >= inner.length)).toString()).toBe(inner);
      socket.destroy();
      expect(relay.received[0]?.toString()).toBe(inner + inner);
      expect(denied.accepted).toBe(0);
      expect(resolver.calls).toEqual(['relay.test']);
      await expect.poll(() => proxy.records.length).toBe(1);
    }
    // Negative control: asked for directly and allowed, denied.test's server would see it.
    await using proxy = await testProxy(
      [`denied.test:${denied.port}`, `127.0.0.1:${denied.port}`],
      { resolver },
    );
    const { socket, head } = await connectTunnel(proxy.socketPath, `denied.test:${denied.port}`);
    expect(head.startsWith(OK)).toBe(true);
    socket.destroy();
    expect(denied.accepted).toBe(1);
  });

  it('carries a half-close through: the client ends its side and still reads the answer', async () => {
    await using echo = await echoServer();
    await using proxy = await testProxy([`127.0.0.1:${echo.port}`]);
    const { socket, head } = await connectTunnel(proxy.socketPath, `127.0.0.1:${echo.port}`);
    expect(head.startsWith(OK)).toBe(true);
    socket.end('last words');
    expect((await readAll(socket)).toString()).toBe('last words');
    await expect.poll(() => proxy.records[0]).toMatchObject({ bytesUp: 10, bytesDown: 10 });
    expect(proxy.records[0]?.error).toBeUndefined();
  });

  it('refuses "ask" with the reason until approvals exist, and a failing decider closed', async () => {
    const asking = { decide: () => ({ decision: 'ask' as const, reason: 'x.test:443 is new' }) };
    const failing = {
      decide: async (): Promise<never> => {
        throw new Error('policy store unreadable');
      },
    };
    await using askProxy = await testProxy([], { decider: asking });
    expect((await connectTunnel(askProxy.socketPath, 'x.test:443')).head).toContain(
      'x.test:443 is new; approval of network access is not available yet, so it is refused',
    );
    await using failProxy = await testProxy([], { decider: failing });
    expect((await connectTunnel(failProxy.socketPath, 'x.test:443')).head).toContain(
      'the egress decider failed, so it is refused: policy store unreadable',
    );
  });

  it('answers 400 to a CONNECT target that is not host:port or not a host', async () => {
    await using proxy = await testProxy(['example.com']);
    for (const target of [
      'example.com',
      'exa mple.com:443',
      '0x7f.1:443',
      'a..b:443',
      '[::1:443',
    ]) {
      const { head } = await connectTunnel(proxy.socketPath, target);
      expect(head, target).toMatch(/^HTTP\/1\.1 400 /);
    }
  });
});
