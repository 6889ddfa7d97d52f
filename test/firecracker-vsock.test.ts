// The hybrid vsock dialer against a real Unix socket server that plays Firecracker's side of the
// protocol (docs/vsock.md): read `CONNECT <port>\n`; if the guest listens, answer
// `OK <host port>\n` and relay bytes; if not, close the connection.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { dialHybridVsock } from '../src/drivers/firecracker/vsock.js';
import { expectCode } from './support/expect-code.js';

let dir: string;
let path: string;
let server: Server | undefined;
const sockets: Socket[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ironclaw-fc-vsock-'));
  path = join(dir, 'v.sock');
});
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
  await rm(dir, { recursive: true, force: true });
});

/** A fake Firecracker: `decide(attempt, line)` says what to do with each CONNECT. */
async function firecracker(
  decide: (attempt: number, line: string, socket: Socket) => void,
): Promise<{ lines: string[] }> {
  const lines: string[] = [];
  server = createServer((socket) => {
    sockets.push(socket);
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('latin1');
      const end = text.indexOf('\n');
      if (end < 0) return;
      socket.off('data', onData);
      lines.push(text.slice(0, end + 1));
      decide(lines.length, text.slice(0, end), socket);
    };
    socket.on('data', onData);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server!.listen(path, resolve));
  return { lines };
}

/** The guest side once connected: echoes what it gets, upper-cased. */
function guest(socket: Socket): void {
  socket.on('data', (chunk: Buffer) => socket.write(chunk.toString().toUpperCase()));
}

function readSome(socket: Socket, bytes: number): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString();
      if (text.length >= bytes) {
        socket.off('data', onData);
        resolve(text);
      }
    };
    socket.on('data', onData);
  });
}

describe('dialHybridVsock', () => {
  test('retries while Firecracker closes the connection (nothing listens yet), then connects', async () => {
    const fc = await firecracker((attempt, _line, socket) => {
      if (attempt < 4) {
        socket.end(); // what Firecracker does when no guest listener exists on the port
        return;
      }
      // The acknowledgement and the guest's first bytes can arrive in one segment.
      socket.write('OK 1073741824\nhello from the guest\n');
      guest(socket);
    });
    const socket = await dialHybridVsock(path, 1024, { signal: AbortSignal.timeout(5000) });
    sockets.push(socket);
    expect(fc.lines).toEqual(Array(4).fill('CONNECT 1024\n'));
    expect(await readSome(socket, 21)).toBe('hello from the guest\n');
    socket.write('ping');
    expect(await readSome(socket, 4)).toBe('PING');
  });

  test('retries while the socket does not exist yet (Firecracker has not made it)', async () => {
    const dialing = dialHybridVsock(path, 52, { signal: AbortSignal.timeout(5000) });
    await delay(200);
    await firecracker((_attempt, _line, socket) => {
      socket.write('OK 1073741825\n');
      guest(socket);
    });
    const socket = await dialing;
    sockets.push(socket);
    socket.write('x');
    expect(await readSome(socket, 1)).toBe('X');
  });

  test('a reply other than OK <port> fails at once: the peer is not Firecracker', async () => {
    const fc = await firecracker((_attempt, _line, socket) => socket.write('HTTP/1.1 400 Bad\n'));
    const error = await expectCode(
      () => dialHybridVsock(path, 1024, { signal: AbortSignal.timeout(5000) }),
      'PROTOCOL_ERROR',
    );
    expect(error.message).toContain('"HTTP/1.1 400 Bad"');
    expect(fc.lines).toHaveLength(1);
  });

  test('an endless reply without a newline fails too', async () => {
    await firecracker((_attempt, _line, socket) => socket.write('O'.repeat(100)));
    await expectCode(
      () => dialHybridVsock(path, 1024, { signal: AbortSignal.timeout(5000) }),
      'PROTOCOL_ERROR',
    );
  });

  test('gives up with TIMEOUT when the guest never listens, saying why', async () => {
    const fc = await firecracker((_attempt, _line, socket) => socket.end());
    const error = await expectCode(
      () => dialHybridVsock(path, 1024, { signal: AbortSignal.timeout(400) }),
      'TIMEOUT',
    );
    expect(error.message).toContain('nothing listens on port 1024 yet');
    expect(fc.lines.length).toBeGreaterThan(2);
  });

  test('an acknowledgement that does not come in time counts as "not yet"', async () => {
    const fc = await firecracker((attempt, _line, socket) => {
      if (attempt === 1) return; // silent
      socket.write('OK 7\n');
    });
    const socket = await dialHybridVsock(path, 1024, {
      signal: AbortSignal.timeout(5000),
      ackTimeoutMs: 100,
    });
    sockets.push(socket);
    expect(fc.lines).toHaveLength(2);
  });

  test('stops with ABORTED when its caller does', async () => {
    await firecracker((_attempt, _line, socket) => socket.end());
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    await expectCode(() => dialHybridVsock(path, 1024, { signal: controller.signal }), 'ABORTED');
  });
});
