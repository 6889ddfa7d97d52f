import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BIN, freshStateDir, runCli } from './helpers/cli.js';

// sandbox create -p: a server in a real bwrap box, reached from the host through the guest
// agent's channel.

const SERVER = `
import http.server
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'hello from the box ' + self.path.encode()
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(('127.0.0.1', 8000), Handler)
print('ready', flush=True)
server.serve_forever()
`;

let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  env = { IRONCLAW_STATE_DIR: await freshStateDir(), IRONCLAW_POOL_SIZE: '0' };
});

afterAll(async () => {
  await runCli(['daemon', '--stop'], { env });
});

/** Starts the server in the box and resolves once it listens (it says so on stdout). */
function startServer(id: string): Promise<() => void> {
  const child = spawn(
    process.execPath,
    [BIN, 'sandbox', 'exec', id, '--', 'python3', '-c', SERVER],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve(() => child.kill());
    });
    child.once('exit', (code) => reject(new Error(`the server's exec ended first (${code})`)));
  });
}

function refused(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
  });
}

describe('sandbox create -p', () => {
  test(
    'fetches from a server in the box; ports lists it; it closes on destroy',
    { timeout: 120_000 },
    async () => {
      const created = await runCli(['sandbox', 'create', '--id', 'web', '-p', '8000', '--json'], {
        env,
      });
      expect(created.code).toBe(0);
      const { ports } = JSON.parse(created.stdout) as {
        ports: { boxPort: number; hostPort: number; address: string; url: string }[];
      };
      expect(ports).toHaveLength(1);
      const [port] = ports;
      expect(port).toMatchObject({ boxPort: 8000, address: '127.0.0.1' });
      expect(port?.url).toBe(`http://127.0.0.1:${port?.hostPort}/`);

      const listed = await runCli(['sandbox', 'ports', 'web'], { env });
      expect(listed.stdout).toBe(`8000 -> 127.0.0.1:${port?.hostPort}\n`);

      const stop = await startServer('web');
      try {
        const answers = await Promise.all(
          ['/a', '/b', '/c'].map(async (path) => (await fetch(new URL(path, port?.url))).text()),
        );
        expect(answers).toEqual(['/a', '/b', '/c'].map((path) => `hello from the box ${path}`));
      } finally {
        stop();
      }
      // The box still has no interface but loopback: the port opened no route out.
      const devices = await runCli(['sandbox', 'exec', 'web', '--', 'cat', '/proc/net/dev'], {
        env,
      });
      expect(
        devices.stdout
          .split('\n')
          .slice(2)
          .filter(Boolean)
          .map((line) => line.split(':')[0]?.trim()),
      ).toEqual(['lo']);

      expect((await runCli(['sandbox', 'rm', 'web'], { env })).code).toBe(0);
      expect(await refused(port?.hostPort ?? 0)).toBe('ECONNREFUSED');
    },
  );

  test('bad -p values and a --publish-address without -p are usage errors', async () => {
    for (const args of [
      ['-p', '0'],
      ['-p', '70000'],
      ['-p', 'x:80'],
      ['--publish-address', '127.0.0.1'],
    ]) {
      const result = await runCli(['sandbox', 'create', ...args], { env });
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/-p/);
    }
  });
});
