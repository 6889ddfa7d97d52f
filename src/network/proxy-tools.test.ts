// Real tools through the egress proxy, unchanged, on loopback: curl over SOCKS5 (socks5h, the
// proxy's Unix socket directly), curl and Python's urllib over HTTP through a loopback bridge
// (as the box will reach it), and the host's own resolver (getaddrinfo) for `localhost`.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { systemResolver, staticResolver } from './resolver.js';
import { formatIp } from '../core/net/ip-address.js';
import { httpEchoServer, loopbackBridge, testProxy, type SeenRequest } from './test-support.js';

const run = promisify(execFile);
const has = async (command: string) =>
  run(command, ['--version']).then(
    () => true,
    () => false,
  );
const curl = await has('curl');
const python = await has('python3');

async function setUp() {
  const web = await httpEchoServer();
  const resolver = staticResolver({ 'web.test': '127.0.0.1', 'denied.test': '127.0.0.1' });
  const proxy = await testProxy([`web.test:${web.port}`, `127.0.0.1:${web.port}`], { resolver });
  const bridge = await loopbackBridge(proxy.socketPath);
  return {
    web,
    proxy,
    bridge,
    [Symbol.asyncDispose]: async () => {
      await bridge[Symbol.asyncDispose]();
      await proxy[Symbol.asyncDispose]();
      await web[Symbol.asyncDispose]();
    },
  };
}

/** The environment a box's tools get (without NO_PROXY exceptions: loopback goes through too). */
const proxyEnv = (port: number) => ({
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  http_proxy: `http://127.0.0.1:${port}`,
  HTTP_PROXY: `http://127.0.0.1:${port}`,
  https_proxy: `http://127.0.0.1:${port}`,
  ALL_PROXY: `socks5h://127.0.0.1:${port}`,
  NO_PROXY: '',
  no_proxy: '',
});

describe.skipIf(!curl)('curl through the proxy (needs curl)', () => {
  it('fetches over SOCKS5 by name, straight to the Unix socket, and is refused by ruleset', async () => {
    await using t = await setUp();
    const proxy = `socks5h://localhost${t.proxy.socketPath}`;
    const url = `http://web.test:${t.web.port}/socks`;
    const { stdout } = await run('curl', ['-sS', '--max-time', '10', '-x', proxy, url]);
    expect((JSON.parse(stdout) as SeenRequest).url).toBe('/socks');
    const denied = run('curl', ['-sS', '--max-time', '10', '-x', proxy, 'http://denied.test/']);
    await expect(denied).rejects.toMatchObject({
      stderr: expect.stringMatching(/not allowed|\(2\)/) as string,
    });
  });

  it('fetches plain HTTP and through a CONNECT tunnel via the environment, and shows the 403 reason', async () => {
    await using t = await setUp();
    const env = proxyEnv(t.bridge.port);
    const url = `http://web.test:${t.web.port}/a/../b?x=%41`;
    const plain = await run('curl', ['-sS', '--path-as-is', '--max-time', '10', url], { env });
    expect((JSON.parse(plain.stdout) as SeenRequest).url).toBe('/a/../b?x=%41');
    const tunnelled = await run('curl', ['-sS', '-p', '--max-time', '10', url], { env });
    expect((JSON.parse(tunnelled.stdout) as SeenRequest).headers.host).toBe(
      `web.test:${t.web.port}`,
    );
    const denied = await run('curl', ['-sS', '--max-time', '10', 'http://denied.test/'], { env });
    expect(denied.stdout).toBe(
      'IronClaw egress proxy: no --allow-net rule allows denied.test:80; allow it with --allow-net denied.test\n',
    );
    const tunnelDenied = run('curl', ['-sS', '-p', '--max-time', '10', 'http://denied.test/'], {
      env,
    });
    await expect(tunnelDenied).rejects.toMatchObject({
      stderr: expect.stringContaining('403') as string,
    });
  });
});

describe.skipIf(!python)("Python's urllib through the proxy (needs python3)", () => {
  it('uses http_proxy unchanged', async () => {
    await using t = await setUp();
    const script = `import urllib.request; print(urllib.request.urlopen('http://web.test:${t.web.port}/py').read().decode())`;
    const { stdout } = await run('python3', ['-c', script], { env: proxyEnv(t.bridge.port) });
    expect((JSON.parse(stdout) as SeenRequest).url).toBe('/py');
  });
});

describe('the system resolver', () => {
  it('resolves localhost with getaddrinfo, from /etc/hosts', async () => {
    const addresses = await systemResolver('localhost', new AbortController().signal);
    expect(addresses.map(formatIp)).toContain('127.0.0.1');
  });

  it.skipIf(!curl)(
    'leads the proxy to refuse a name that is the loopback (needs curl)',
    async () => {
      await using web = await httpEchoServer();
      await using proxy = await testProxy([`localhost:${web.port}`]);
      await using bridge = await loopbackBridge(proxy.socketPath);
      const url = `http://localhost:${web.port}/`;
      const denied = await run('curl', ['-sS', '--max-time', '10', url], {
        env: proxyEnv(bridge.port),
      });
      expect(denied.stdout).toMatch(
        /localhost resolves to (127\.0\.0\.1|::1): .* loopback address/,
      );
      expect(web.accepted).toBe(0);
    },
  );
});
