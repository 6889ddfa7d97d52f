// One HTTPS server on the host's loopback standing in for the services tools talk to: a PyPI
// simple index, an npm registry, a git host (dumb HTTP), a plain page and a WebSocket echo.
// Which service answers is chosen by the Host header, as a real name would choose a server.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { join, normalize } from 'node:path';
import type { Certs } from './tool-fixtures.js';

export interface ToolServer extends AsyncDisposable {
  port: number;
  /** Requests seen, as `host path`. */
  seen: string[];
}

export interface ToolServerContent {
  certs: Certs;
  wheel: { name: string; bytes: Buffer };
  npm: { bytes: Buffer; integrity: string };
  /** The bare repository served at /repo.git. */
  gitDir: string;
}

export async function startToolServer(content: ToolServerContent): Promise<ToolServer> {
  const seen: string[] = [];
  const sockets = new Set<Socket>();
  let port = 0;
  const server: Server = createServer(
    { key: content.certs.key, cert: content.certs.cert },
    (request, response) => {
      const host = (request.headers.host ?? '').replace(/:\d+$/, '');
      const path = (request.url ?? '/').split('?')[0] ?? '/';
      seen.push(`${host} ${path}`);
      const send = (status: number, type: string, body: string | Buffer): void => {
        response.writeHead(status, { 'content-type': type }).end(body);
      };
      if (host === 'pypi.test') {
        const sha = createHash('sha256').update(content.wheel.bytes).digest('hex');
        if (path === '/simple/tinypkg/')
          return send(
            200,
            'text/html',
            `<!DOCTYPE html><html><body><a href="/files/${content.wheel.name}#sha256=${sha}">${content.wheel.name}</a></body></html>`,
          );
        if (path === `/files/${content.wheel.name}`)
          return send(200, 'application/octet-stream', content.wheel.bytes);
      }
      if (host === 'registry.test') {
        if (path === '/tiny-pkg')
          return send(
            200,
            'application/json',
            JSON.stringify({
              name: 'tiny-pkg',
              'dist-tags': { latest: '1.0.0' },
              versions: {
                '1.0.0': {
                  name: 'tiny-pkg',
                  version: '1.0.0',
                  main: 'index.js',
                  dist: {
                    tarball: `https://registry.test:${port}/tiny-pkg/-/tiny-pkg-1.0.0.tgz`,
                    integrity: content.npm.integrity,
                  },
                },
              },
            }),
          );
        if (path === '/tiny-pkg/-/tiny-pkg-1.0.0.tgz')
          return send(200, 'application/octet-stream', content.npm.bytes);
      }
      if (host === 'git.test' && path.startsWith('/repo.git/')) {
        // Dumb HTTP: the bare repository's files as they are (update-server-info wrote the
        // index files); git falls back to it when info/refs is not a smart answer.
        const file = normalize(path.slice('/repo.git/'.length));
        if (!file.startsWith('..'))
          return void readFile(join(content.gitDir, file)).then(
            (bytes) => send(200, 'application/octet-stream', bytes),
            () => send(404, 'text/plain', 'not found\n'),
          );
      }
      if (host === 'web.test' && path === '/hello')
        return send(200, 'text/plain', 'hello over tls\n');
      send(404, 'text/plain', `nothing at ${host}${path}\n`);
    },
  );
  server.on('upgrade', (request, socket: Socket) => {
    seen.push(`${request.headers.host ?? ''} upgrade ${request.url ?? ''}`);
    acceptWebSocket(request.headers['sec-websocket-key'], socket);
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  return {
    port,
    seen,
    [Symbol.asyncDispose]: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * The least of RFC 6455 a client needs: the handshake, then every text frame the client sends
 * (masked, under 126 bytes) comes back unmasked with `echo: ` in front.
 */
function acceptWebSocket(key: string | string[] | undefined, socket: Socket): void {
  if (typeof key !== 'string') return void socket.destroy();
  const accept = createHash('sha1')
    .update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
    .digest('base64');
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
  );
  let buffered = Buffer.alloc(0);
  socket.on('error', () => undefined);
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 6) {
      const opcode = buffered[0]! & 0x0f;
      const size = buffered[1]! & 0x7f;
      if (size >= 126) return void socket.destroy();
      if (buffered.length < 6 + size) return;
      const mask = buffered.subarray(2, 6);
      const payload = Buffer.from(buffered.subarray(6, 6 + size).map((b, i) => b ^ mask[i % 4]!));
      buffered = buffered.subarray(6 + size);
      if (opcode === 0x8) return void socket.end(Buffer.from([0x88, 0]));
      if (opcode !== 0x1) continue;
      const reply = Buffer.from(`echo: ${payload.toString()}`);
      socket.write(Buffer.concat([Buffer.from([0x81, reply.length]), reply]));
    }
  });
}
