import { execFile, spawn } from 'node:child_process';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runOnce } from '../src/index.js';
import { runscBinary } from '../src/drivers/gvisor/platform.js';
import { runCli } from './helpers/cli.js';
import { expectCode } from './support/expect-code.js';

/** One-shot runs on gVisor: the command is the box's payload, behind a sh shim. */
const execFileAsync = promisify(execFile);
const DIST = fileURLToPath(new URL('../dist/index.js', import.meta.url));
const missing = await runscBinary().then(
  () => undefined,
  (error: Error) => error.message,
);
const skip = missing === undefined ? '' : ` [skipped: ${missing}]`;

function run(argv: string[], options: Partial<Parameters<typeof runOnce>[1]> = {}) {
  return runOnce(argv, { driver: 'gvisor', stdio: 'pipe', ...options });
}

describe.skipIf(missing !== undefined)(`gVisor one-shot runs${skip}`, () => {
  let scratch: string;
  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'ironclaw-gvisor-once-'));
  });
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  test('captures stdout and stderr (without the start mark) and the exit status', async () => {
    const result = await run(['sh', '-c', 'echo out; echo err >&2; exit 7']);
    expect(result).toMatchObject({ exitCode: 7, timedOut: false });
    expect(result.stdout.toString()).toBe('out\n');
    expect(result.stderr.toString()).toBe('err\n');
    expect(result.isolation.driver).toBe('gvisor');
  });

  test('127 for a missing command, 126 for one that cannot run, 128+N for a signal', async () => {
    const [notFound, notExecutable, killed] = await Promise.all([
      run(['no-such-command-ironclaw']),
      run(['/usr']),
      run(['sh', '-c', 'kill -TERM $$']),
    ]);
    expect(notFound.exitCode).toBe(127);
    expect(notFound.stderr.toString()).toContain('no-such-command-ironclaw');
    expect(notExecutable.exitCode).toBe(126);
    expect(killed.exitCode).toBe(143);
  });

  test('copies a workspace in before the command; one too large fails the start with tar’s words', async () => {
    const workspace = join(scratch, 'workspace');
    await execFileAsync('mkdir', ['-p', join(workspace, 'sub')]);
    await writeFile(join(workspace, 'sub', 'hello.txt'), 'from the host\n');
    const result = await run(
      ['sh', '-c', 'cat sub/hello.txt; id -u; stat -c %u sub/hello.txt 2>/dev/null || true'],
      { workspace },
    );
    expect(result.exitCode).toBe(0);
    expect(result.stdout.toString()).toMatch(/^from the host\n1000\n/);
    await writeFile(join(workspace, 'big.bin'), Buffer.alloc(2 * 1024 ** 2, 1));
    const error = await expectCode(
      () => run(['true'], { workspace, limits: { workspaceBytes: 1024 ** 2 } }),
      'SANDBOX_START_FAILED',
    );
    expect(error.message).toMatch(/tar: .*(Wrote only|No space left on device|Cannot write)/);
  });

  test('a timeout kills the box: exit 124, timedOut', async () => {
    const result = await run(['sleep', '30'], { timeoutMs: 500 });
    expect(result).toMatchObject({ timedOut: true, exitCode: 124, signal: 'SIGKILL' });
    // The kill, not the command's own end: sleep 30 would have taken 30 s.
    expect(result.durationMs).toBeLessThan(30_000);
  });

  test('the caller’s pipes stay blocking: gVisor’s O_NONBLOCK lands on re-opened copies', async () => {
    // A FIFO stands for a shell pipeline; the writer is opened read-write so that opening the
    // reader does not block, and neither end has O_NONBLOCK.
    const fifo = join(scratch, 'fifo');
    await execFileAsync('mkfifo', [fifo]);
    const writer = await open(fifo, 'r+');
    const reader = await open(fifo, 'r');
    const script = `
      import { readFileSync } from 'node:fs';
      import { closeInheritedFds, runOnce } from ${JSON.stringify(DIST)};
      closeInheritedFds();
      const flags = (fd) => parseInt(/flags:\\s*(\\d+)/.exec(readFileSync('/proc/self/fdinfo/' + fd, 'utf8'))[1], 8);
      const before = [flags(0), flags(1)];
      const result = await runOnce(['true'], { driver: 'gvisor', stdio: 'inherit' });
      process.stderr.write('\\nresult ' + JSON.stringify({ before, after: [flags(0), flags(1)], exitCode: result.exitCode }) + '\\n');
    `;
    try {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
        stdio: [reader.fd, writer.fd, 'pipe'],
      });
      let stderr = '';
      child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await new Promise((resolve) => child.once('close', resolve));
      expect(code, stderr).toBe(0);
      // The box shares the child's stderr, so runsc may have written there too: take our line.
      const line = /^result (.*)$/m.exec(stderr)?.[1];
      expect(line, stderr).toBeDefined();
      const { before, after, exitCode } = JSON.parse(line ?? '') as Record<string, unknown>;
      expect(exitCode).toBe(0);
      expect(after).toEqual(before);
      for (const flags of after as number[]) expect(flags & 0o4000).toBe(0); // O_NONBLOCK
    } finally {
      await Promise.all([reader.close(), writer.close()]);
    }
  });

  test('ironclaw exec --driver gvisor runs the command and returns its status', async () => {
    const result = await runCli(
      ['exec', '--driver', 'gvisor', '--', 'sh', '-c', 'cat; echo err >&2; exit 3'],
      {
        input: 'through gVisor\n',
      },
    );
    expect(result).toMatchObject({ code: 3, stdout: 'through gVisor\n', stderr: 'err\n' });
  });

  test('output to a file the caller opened lands after what the file holds, not over it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ironclaw-gvisor-out-'));
    const path = join(dir, 'out.txt');
    await writeFile(path, 'before\n');
    const file = await open(path, 'a');
    try {
      const bin = fileURLToPath(new URL('../bin/ironclaw.cjs', import.meta.url));
      const child = spawn(
        process.execPath,
        [bin, 'exec', '--driver', 'gvisor', '--', 'echo', 'from the box'],
        {
          stdio: ['ignore', file.fd, 'inherit'],
        },
      );
      expect(await new Promise((resolve) => child.once('close', resolve))).toBe(0);
      const { readFile } = await import('node:fs/promises');
      expect(await readFile(path, 'utf8')).toBe('before\nfrom the box\n');
    } finally {
      await file.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
