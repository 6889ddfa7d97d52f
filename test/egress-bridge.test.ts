// The box's side of egress: a connection to 127.0.0.1:3128 in the box reaches the host's Unix
// socket (the egress proxy's) and nothing else; the box keeps loopback as its only interface.
// The server here is a plain Unix-socket server standing where the proxy will: what the bridge
// carries is bytes, in both directions, half-close included. The same tests run on every driver
// this machine has: bwrap and gVisor bind the socket in, a QEMU VM (no NIC) carries each
// connection as a stream over its agent channel.
import { createHash } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createSandbox } from '../src/index.js';
import type { DriverName } from '../src/core/isolation.js';
import { runscBinary } from '../src/drivers/gvisor/platform.js';
import { qemuMissing } from './support/qemu-missing.js';

const DRIVERS: { driver: DriverName; missing: string | undefined; timeout: number }[] = [
  { driver: 'bwrap', missing: undefined, timeout: 30_000 },
  {
    driver: 'gvisor',
    missing: await runscBinary().then(
      () => undefined,
      (error: Error) => error.message,
    ),
    timeout: 60_000,
  },
  // Under TCG a VM boots in tens of seconds on a busy machine: few tests, generous timeouts.
  { driver: 'qemu', missing: await qemuMissing(), timeout: 480_000 },
];

/**
 * Connects to 127.0.0.1:3128, sends its argument (or, for `bulk:N`, N bytes of a pattern), shuts
 * its side down, prints all it reads (or, for bulk, its length and SHA-256).
 */
const CLIENT_PY = String.raw`
import hashlib, socket, sys
bulk = sys.argv[1].startswith("bulk:")
payload = bytes(range(256)) * (int(sys.argv[1][5:]) // 256) if bulk else sys.argv[1].encode()
s = socket.create_connection(("127.0.0.1", 3128), timeout=60)
s.sendall(payload)
s.shutdown(socket.SHUT_WR)
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
print(f"{len(data)} {hashlib.sha256(data).hexdigest()}" if bulk else data.decode())
`;

let dir: string;
let socketPath: string;
let server: Server;
let connections = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ironclaw-egress-'));
  // As root the box runs as a uid of its own, which must reach the socket: the directory is 0711.
  await chmod(dir, 0o711);
  socketPath = join(dir, 'proxy.sock');
  server = createServer({ allowHalfOpen: true }, (socket) => {
    connections += 1;
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    // Answers only after the client's end: the reply travels back over a half-closed bridge.
    socket.on('end', () =>
      socket.end(Buffer.concat([Buffer.from('echo:'), ...chunks, Buffer.from('|bye')])),
    );
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  await chmod(socketPath, 0o666);
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

describe.each(DRIVERS)('the egress bridge ($driver)', ({ driver, missing, timeout }) => {
  const skip = missing === undefined ? '' : ` [skipped: ${missing}]`;

  test.skipIf(missing !== undefined)(
    `carries bytes both ways between the box loopback and the host socket, half-close included${skip}`,
    async () => {
      await using box = await createSandbox({
        driver,
        egressSocket: socketPath,
        startTimeoutMs: timeout / 2,
      });
      await box.writeFile('/tmp/client.py', CLIENT_PY);
      const before = connections;
      // python3 alone takes seconds to start in a VM under TCG.
      const execTimeoutMs = timeout / 3;
      const result = await box.exec(['python3', '/tmp/client.py', 'hello'], {
        timeoutMs: execTimeoutMs,
      });
      expect(result.stderr.toString()).toBe('');
      expect(result.stdout.toString()).toBe('echo:hello|bye\n');
      expect(connections).toBe(before + 1);
      // Several at once, each its own connection to the host socket.
      const many = await box.exec(
        ['sh', '-c', 'for i in 1 2 3; do python3 /tmp/client.py "n$i" & done; wait'],
        { timeoutMs: execTimeoutMs },
      );
      expect(many.stderr.toString()).toBe('');
      expect(many.exitCode).toBe(0);
      expect(many.stdout.toString().trim().split('\n').sort()).toEqual(
        ['n1', 'n2', 'n3'].map((n) => `echo:${n}|bye`),
      );
      // A bulk transfer both ways, more than a stream's window many times over, arrives whole.
      const size = 2 * 1024 * 1024;
      const payload = Buffer.alloc(size);
      for (let i = 0; i < size; i++) payload[i] = i % 256;
      const echoed = Buffer.concat([Buffer.from('echo:'), payload, Buffer.from('|bye')]);
      const bulk = await box.exec(['python3', '/tmp/client.py', `bulk:${size}`], {
        timeoutMs: execTimeoutMs,
      });
      expect(bulk.stderr.toString()).toBe('');
      expect(bulk.stdout.toString()).toBe(
        `${echoed.length} ${createHash('sha256').update(echoed).digest('hex')}\n`,
      );
      // The proxy variables point at the bridge, with nothing exempt.
      const env = (await box.exec(['env'])).stdout.toString().split('\n');
      expect(env).toContain('HTTPS_PROXY=http://127.0.0.1:3128');
      expect(env).toContain('https_proxy=http://127.0.0.1:3128');
      expect(env).toContain('ALL_PROXY=socks5h://127.0.0.1:3128');
      expect(env).toContain('NO_PROXY=');
      // Node's fetch follows them in commands; the agent itself runs without it (it would pay
      // for Node's proxy agent at start-up, on every box start: core/egress-env.ts).
      expect(env).toContain('NODE_USE_ENV_PROXY=1');
      const { pid } = await box.ping();
      const agentEnv = (await box.exec(['cat', `/proc/${pid}/environ`])).stdout.toString();
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
    },
    timeout,
  );

  test.skipIf(missing !== undefined)(
    `negative control: without the bridge, 127.0.0.1:3128 in the box is refused${skip}`,
    async () => {
      await using box = await createSandbox({ driver, startTimeoutMs: timeout / 2 });
      await box.writeFile('/tmp/client.py', CLIENT_PY);
      const result = await box.exec(['python3', '/tmp/client.py', 'hello'], {
        timeoutMs: timeout / 4,
      });
      expect(result.exitCode).not.toBe(0);
      expect(result.stderr.toString()).toContain('ConnectionRefusedError');
    },
    timeout,
  );
});
