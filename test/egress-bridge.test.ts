// The box's side of egress: a connection to 127.0.0.1:3128 in the box reaches the host's Unix
// socket (the egress proxy's) and nothing else; the box keeps loopback as its only interface.
// The server here is a plain Unix-socket server standing where the proxy will: what the bridge
// carries is bytes, in both directions, half-close included.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createSandbox } from '../src/index.js';
import { expectCode } from './support/expect-code.js';

/** Connects to 127.0.0.1:3128, sends its argument, shuts its side down, prints all it reads. */
const CLIENT_PY = String.raw`
import socket, sys
s = socket.create_connection(("127.0.0.1", 3128), timeout=10)
s.sendall(sys.argv[1].encode())
s.shutdown(socket.SHUT_WR)
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
print(data.decode())
`;

let dir: string;
let socketPath: string;
let server: Server;
let connections = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ironclaw-egress-'));
  // As root the box runs as uid 65534, which must reach the socket: the directory is 0711.
  await chmod(dir, 0o711);
  socketPath = join(dir, 'proxy.sock');
  server = createServer({ allowHalfOpen: true }, (socket) => {
    connections += 1;
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    // Answers only after the client's end: the reply travels back over a half-closed bridge.
    socket.on('end', () => socket.end(`echo:${Buffer.concat(chunks).toString()}|bye`));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  await chmod(socketPath, 0o666);
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

describe('the egress bridge (bwrap)', () => {
  test('carries bytes both ways between the box loopback and the host socket, half-close included', async () => {
    await using box = await createSandbox({ egressSocket: socketPath });
    await box.writeFile('/tmp/client.py', CLIENT_PY);
    const before = connections;
    const result = await box.exec(['python3', '/tmp/client.py', 'hello'], { timeoutMs: 20_000 });
    expect(result.stderr.toString()).toBe('');
    expect(result.stdout.toString()).toBe('echo:hello|bye\n');
    expect(connections).toBe(before + 1);
    // Several at once, each its own connection to the host socket.
    const many = await box.exec(
      ['sh', '-c', 'for i in 1 2 3 4 5; do python3 /tmp/client.py "n$i" & done; wait'],
      { timeoutMs: 20_000 },
    );
    expect(many.stdout.toString().trim().split('\n').sort()).toEqual(
      ['n1', 'n2', 'n3', 'n4', 'n5'].map((n) => `echo:${n}|bye`),
    );
  });

  test('points the proxy variables at the bridge, with nothing exempt', async () => {
    await using box = await createSandbox({ egressSocket: socketPath });
    const env = (await box.exec(['env'])).stdout.toString().split('\n');
    expect(env).toContain('HTTPS_PROXY=http://127.0.0.1:3128');
    expect(env).toContain('https_proxy=http://127.0.0.1:3128');
    expect(env).toContain('ALL_PROXY=socks5h://127.0.0.1:3128');
    expect(env).toContain('NO_PROXY=');
    // Node's fetch follows them in commands; the agent itself starts without it (it would pay
    // for Node's proxy agent at start-up, on every box start: core/egress-env.ts).
    expect(env).toContain('NODE_USE_ENV_PROXY=1');
    const { pid } = await box.ping();
    const agentEnv = (await box.exec(['cat', `/proc/${pid}/environ`])).stdout.toString();
    expect(agentEnv).toContain('HTTPS_PROXY=http://127.0.0.1:3128');
    expect(agentEnv).not.toContain('NODE_USE_ENV_PROXY');
    // The bridge adds no interface: loopback is still the only one.
    const dev = (await box.exec(['cat', '/proc/net/dev'])).stdout.toString();
    expect(
      dev
        .split('\n')
        .slice(2)
        .filter(Boolean)
        .map((l) => l.split(':')[0]?.trim()),
    ).toEqual(['lo']);
  });

  test('negative control: without the bridge, 127.0.0.1:3128 in the box is refused', async () => {
    await using box = await createSandbox();
    await box.writeFile('/tmp/client.py', CLIENT_PY);
    const result = await box.exec(['python3', '/tmp/client.py', 'hello'], { timeoutMs: 20_000 });
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr.toString()).toContain('ConnectionRefusedError');
  });

  test('a driver that cannot bind the socket in fails closed, naming the capability', async () => {
    const error = await expectCode(
      () => createSandbox({ driver: 'qemu', egressSocket: socketPath }),
      'POLICY_UNENFORCEABLE',
    );
    expect(error.message).toContain('capability hostMounts');
  });
});
