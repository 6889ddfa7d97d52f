// Plain HTTP on one kept-alive proxy connection that names a different host in each request:
// every request is decided on its own, a refused one is answered (403, the reason in its body)
// before the connection closes, and an allowed second host is served on the same connection.
import { describe, expect, it } from 'vitest';
import { staticResolver } from './resolver.js';
import { httpEchoServer, rawClient, readAll, readUntil, testProxy } from './test-support.js';

const request = (host: string, port: number, path: string): string =>
  `GET http://${host}:${port}${path} HTTP/1.1\r\nHost: ${host}:${port}\r\n\r\n`;

/** Reads one response whose body is the echo server's JSON (it ends with `}` and a chunk end). */
const oneEcho = (bytes: Buffer): boolean => bytes.toString().endsWith('}\r\n0\r\n\r\n');

async function setUp() {
  const web = await httpEchoServer();
  const resolver = staticResolver({
    'web.test': '127.0.0.1',
    'api.test': '127.0.0.1',
    'other.test': '127.0.0.1',
  });
  const rules = [`web.test:${web.port}`, `api.test:${web.port}`, `127.0.0.1:${web.port}`];
  const proxy = await testProxy(rules, { resolver });
  return {
    web,
    proxy,
    resolver,
    [Symbol.asyncDispose]: async () => {
      await proxy[Symbol.asyncDispose]();
      await web[Symbol.asyncDispose]();
    },
  };
}

describe('one kept-alive plain-HTTP connection, several hosts', () => {
  it('serves an allowed second host on the same connection, then answers a denied third with a 403 and closes', async () => {
    await using t = await setUp();
    const client = await rawClient(t.proxy.socketPath);
    client.write(request('web.test', t.web.port, '/first'));
    const first = (await readUntil(client, oneEcho)).toString();
    expect(first).toMatch(/^HTTP\/1\.1 200 /);
    expect(first).toContain('"host":"web.test:');
    client.write(request('api.test', t.web.port, '/second'));
    const second = (await readUntil(client, oneEcho)).toString();
    expect(second).toMatch(/^HTTP\/1\.1 200 /);
    expect(second).toContain(`"host":"api.test:${t.web.port}"`);
    expect(second).toContain('"url":"/second"');
    expect(client.destroyed).toBe(false);
    client.write(request('other.test', t.web.port, '/third'));
    // readAll ends only when the proxy closes the connection: the refusal is its last answer.
    const third = (await readAll(client)).toString();
    expect(third).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(third).toContain('proxy-status: ironclaw; error=http_request_denied');
    expect(third).toContain('connection: close');
    expect(third).toMatch(
      new RegExp(
        `\r\n\r\nIronClaw egress proxy: no --allow-net rule allows other\\.test:${t.web.port}; allow it with --allow-net other\\.test:${t.web.port}\n$`,
      ),
    );
    // Each allowed request had its own upstream connection; the denied name was never resolved.
    expect(t.web.accepted).toBe(2);
    expect(t.resolver.calls).toEqual(['web.test', 'api.test']);
    await expect
      .poll(() => t.proxy.records.map((r) => [r.host, r.decision]))
      .toEqual([
        ['web.test', 'allowed'],
        ['api.test', 'allowed'],
        ['other.test', 'denied'],
      ]);
  });

  it('answers a denied host pipelined behind an allowed one, in order, then closes', async () => {
    await using t = await setUp();
    const client = await rawClient(t.proxy.socketPath);
    client.write(request('web.test', t.web.port, '/a') + request('other.test', t.web.port, '/b'));
    const both = (await readAll(client)).toString();
    expect(both).toMatch(/^HTTP\/1\.1 200 /);
    const refusal = both.indexOf('HTTP/1.1 403 Forbidden');
    expect(refusal).toBeGreaterThan(both.indexOf('"url":"/a"'));
    expect(both.slice(refusal)).toContain(`no --allow-net rule allows other.test:${t.web.port}`);
    expect(t.web.accepted).toBe(1);
  });
});
