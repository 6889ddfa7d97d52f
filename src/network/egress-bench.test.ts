// The benchmark functions run once, small, so they keep working; bench/ runs them in earnest.
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { measureConnectRoundTrip, measureEchoThroughput } from './egress-bench.js';
import { staticResolver } from './resolver.js';
import { connectTunnel, echoServer, testProxy } from './test-support.js';

describe('egress benchmark functions', () => {
  it('measure a direct connection and one through the proxy', async () => {
    await using echo = await echoServer();
    await using proxy = await testProxy([`echo.test:${echo.port}`, `127.0.0.1:${echo.port}`], {
      resolver: staticResolver({ 'echo.test': '127.0.0.1' }),
    });
    const direct = () =>
      new Promise<Socket>((resolve) => {
        const socket = connect(echo.port, '127.0.0.1', () => resolve(socket));
      });
    const proxied = async () =>
      (await connectTunnel(proxy.socketPath, `echo.test:${echo.port}`)).socket;
    const rows = {
      direct: await measureConnectRoundTrip(direct, 20),
      proxied: await measureConnectRoundTrip(proxied, 20),
      directBytesPerSecond: await measureEchoThroughput(direct, 4 * 1024 * 1024),
      proxiedBytesPerSecond: await measureEchoThroughput(proxied, 4 * 1024 * 1024),
    };
    expect(rows.proxied.count).toBe(20);
    expect(rows.proxied.p50Ms).toBeGreaterThan(0);
    expect(rows.proxiedBytesPerSecond).toBeGreaterThan(0);
    process.stderr.write(`egress bench (smoke, loaded machine): ${JSON.stringify(rows)}\n`);
  });
});
