// Plain HTTP through the egress proxy: absolute-form requests forwarded to a loopback server,
// hop-by-hop headers dropped, every request of a kept-alive connection decided on its own.
import {
  Agent,
  createServer as createHttpServer,
  request,
  type IncomingHttpHeaders,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { staticResolver } from './resolver.js';
import {
  closed,
  httpEchoServer,
  rawClient,
  readAll,
  readUntil,
  testProxy,
  type SeenRequest,
} from './test-support.js';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function send(
  socketPath: string,
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string; agent?: Agent } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({
      socketPath,
      path: url,
      method: options.method ?? 'GET',
      headers: options.headers,
      agent: options.agent,
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
    });
    req.end(options.body);
  });
}

async function setUp(extraRules: string[] = []) {
  const web = await httpEchoServer();
  const resolver = staticResolver({ 'web.test': '127.0.0.1', 'other.test': '127.0.0.1' });
  const proxy = await testProxy([`web.test:${web.port}`, `127.0.0.1:${web.port}`, ...extraRules], {
    resolver,
  });
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

describe('plain HTTP forwarding', () => {
  it('forwards an absolute-form GET, rewriting Host and dropping hop-by-hop headers', async () => {
    await using t = await setUp();
    const answer = await send(t.proxy.socketPath, `http://web.test:${t.web.port}/path?q=1`, {
      headers: {
        Host: 'other.test',
        'Proxy-Connection': 'keep-alive',
        'Proxy-Authorization': 'Basic c2VjcmV0',
        Connection: 'keep-alive, X-Hop',
        'X-Hop': 'dropped',
        'X-End': 'kept',
      },
    });
    expect(answer.status).toBe(200);
    expect(answer.headers['x-upstream']).toBe('yes');
    const seen = JSON.parse(answer.body) as SeenRequest;
    expect(seen.url).toBe('/path?q=1');
    expect(seen.headers.host).toBe(`web.test:${t.web.port}`);
    expect(seen.headers['x-end']).toBe('kept');
    for (const name of ['proxy-connection', 'proxy-authorization', 'x-hop'])
      expect(seen.headers[name], name).toBeUndefined();
    expect(seen.headers.connection).toBe('close');
    await expect.poll(() => t.proxy.records.length).toBe(1);
    expect(t.proxy.records[0]).toMatchObject({
      protocol: 'http',
      host: 'web.test',
      decision: 'allowed',
    });
    expect(t.proxy.records[0]?.bytesDown).toBeGreaterThan(answer.body.length);
  });

  it('forwards request bodies, with a length and chunked', async () => {
    await using t = await setUp();
    const url = `http://web.test:${t.web.port}/upload`;
    const sized = await send(t.proxy.socketPath, url, {
      method: 'POST',
      body: 'x'.repeat(100_000),
    });
    expect((JSON.parse(sized.body) as SeenRequest).body).toHaveLength(100_000);
    const chunked = await send(t.proxy.socketPath, url, {
      method: 'PUT',
      headers: { 'Transfer-Encoding': 'chunked' },
      body: 'chunked body',
    });
    expect(JSON.parse(chunked.body)).toMatchObject({ method: 'PUT', body: 'chunked body' });
  });

  it('decides every request of a kept-alive connection on its own', async () => {
    await using t = await setUp();
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const first = await send(t.proxy.socketPath, `http://web.test:${t.web.port}/a`, { agent });
    expect(first.status).toBe(200);
    const second = await send(t.proxy.socketPath, `http://other.test:${t.web.port}/b`, { agent });
    expect(second.status).toBe(403);
    expect(second.headers['proxy-status']).toContain('error=http_request_denied');
    expect(second.body).toBe(
      `IronClaw egress proxy: no --allow-net rule allows other.test:${t.web.port}; allow it with --allow-net other.test:${t.web.port}\n`,
    );
    agent.destroy();
    expect(t.web.accepted).toBe(1);
    expect(t.resolver.calls).toEqual(['web.test']);
  });

  it('refuses origin-form requests and https:// URLs, which a proxy cannot forward', async () => {
    await using t = await setUp();
    const origin = await send(t.proxy.socketPath, '/path');
    expect(origin.status).toBe(400);
    expect(origin.body).toContain('send an absolute URL');
    const https = await send(t.proxy.socketPath, 'https://web.test/');
    expect(https.status).toBe(400);
    expect(https.body).toContain('use CONNECT for https://');
  });

  it('answers 431 to headers over the cap; with a larger cap the same request passes', async () => {
    await using t = await setUp();
    const big = { 'X-Big': 'a'.repeat(20_000) };
    const url = `http://web.test:${t.web.port}/`;
    const refused = await send(t.proxy.socketPath, url, { headers: big });
    expect(refused.status).toBe(431);
    expect(refused.body).toContain("the request's line and headers are over 16384 bytes");
    const longLine = await send(t.proxy.socketPath, `${url}${'p'.repeat(20_000)}`);
    expect(longLine.status).toBe(431);
    // Negative control: the cap is what refused it.
    await using roomy = await testProxy([`web.test:${t.web.port}`, `127.0.0.1:${t.web.port}`], {
      resolver: t.resolver,
      limits: { maxHeaderBytes: 64 * 1024 },
    });
    expect((await send(roomy.socketPath, url, { headers: big })).status).toBe(200);
  });

  it('answers garbage and TLS with 400 and a reason, and keeps serving', async () => {
    await using t = await setUp();
    const tls = await rawClient(t.proxy.socketPath);
    tls.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]));
    expect((await readAll(tls)).toString()).toContain('not TLS: use http:// in HTTPS_PROXY');
    const junk = await rawClient(t.proxy.socketPath);
    junk.write('GET http://web.test/ HTTP/1.1\r\nBad Header\r\n\r\n');
    expect((await readAll(junk)).toString()).toMatch(/^HTTP\/1\.1 400 /);
    const smuggle = await rawClient(t.proxy.socketPath);
    smuggle.write(
      `POST http://web.test:${t.web.port}/ HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    );
    expect((await readUntil(smuggle, (b) => b.includes('\r\n\r\n'))).toString()).toMatch(
      /^HTTP\/1\.1 400 /,
    );
    await closed(smuggle);
    expect((await send(t.proxy.socketPath, `http://web.test:${t.web.port}/`)).status).toBe(200);
  });

  it('carries an Upgrade (a ws:// WebSocket) through after checking it', async () => {
    const upgrading = createHttpServer();
    upgrading.on('upgrade', (req, socket: Socket) => {
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n',
      );
      socket.write(`upgraded ${req.url ?? ''} ${req.headers.upgrade ?? ''}|`);
      socket.pipe(socket);
    });
    await new Promise<void>((resolve) => upgrading.listen(0, '127.0.0.1', resolve));
    const port = (upgrading.address() as AddressInfo).port;
    await using proxy = await testProxy([`ws.test:${port}`, `127.0.0.1:${port}`], {
      resolver: staticResolver({ 'ws.test': '127.0.0.1' }),
    });
    const client = await rawClient(proxy.socketPath);
    client.write(
      `GET http://ws.test:${port}/chat HTTP/1.1\r\nHost: ws.test\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n`,
    );
    const answer = (await readUntil(client, (b) => b.includes('|'))).toString();
    expect(answer).toMatch(/^HTTP\/1\.1 101 /);
    expect(answer).toContain('upgraded /chat test|');
    client.write('frames');
    expect((await readUntil(client, (b) => b.length >= 6)).toString()).toBe('frames');
    client.destroy();
    const denied = await rawClient(proxy.socketPath);
    denied.write('GET http://other.test/ HTTP/1.1\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n');
    expect((await readAll(denied)).toString()).toMatch(/^HTTP\/1\.1 403 /);
    upgrading.closeAllConnections();
    await new Promise((resolve) => upgrading.close(resolve));
  });

  it('reports an allowed destination that does not answer as 502, not as a refusal', async () => {
    const resolver = staticResolver({ 'down.test': '127.0.0.1' });
    await using proxy = await testProxy(['down.test:1', '127.0.0.1:1'], { resolver });
    const answer = await send(proxy.socketPath, 'http://down.test:1/');
    expect(answer.status).toBe(502);
    expect(answer.body).toContain('ECONNREFUSED');
    await expect
      .poll(() => proxy.records[0])
      .toMatchObject({ decision: 'allowed', error: 'unreachable' });
  });
});
