import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BIN, freshStateDir, runCli } from './helpers/cli.js';
import { probeCgroups } from './support/cgroup-probe.js';

// Issue 13 through the CLI: output and files of any size, one outcome, errors that are the
// caller's, and JSON that is always JSON.

const MiB = 1024 ** 2;
const cgroups = await probeCgroups();
let env: NodeJS.ProcessEnv;
let hostDir: string;

beforeAll(async () => {
  env = { IRONCLAW_STATE_DIR: await freshStateDir(), IRONCLAW_POOL_SIZE: '0' };
  hostDir = await mkdtemp(join(tmpdir(), 'ironclaw-cli-output-'));
  expect((await runCli(['sandbox', 'create', '--id', 'out'], { env })).code).toBe(0);
});

afterAll(async () => {
  await runCli(['daemon', '--stop'], { env });
  await rm(hostDir, { recursive: true, force: true });
});

/** Runs the CLI with its stdout hashed as it comes, never held. */
function runCliHashed(
  args: string[],
): Promise<{ code: number | null; sha256: string; bytes: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const hash = createHash('sha256');
    let bytes = 0;
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, sha256: hash.digest('hex'), bytes, stderr }));
  });
}

/** Resident memory of a process, in bytes. */
async function rss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? Number.NaN) * 1024;
}

/** The pid of this test's daemon: the node process whose environment names its state dir. */
async function daemonPid(): Promise<number> {
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const environ = await readFile(`/proc/${name}/environ`, 'utf8').catch(() => '');
    const cmdline = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (
      environ.split('\0').includes(`IRONCLAW_STATE_DIR=${env.IRONCLAW_STATE_DIR ?? ''}`) &&
      cmdline.split('\0').includes('daemon')
    )
      return Number(name);
  }
  throw new Error('the daemon is not running');
}

async function boxSha256(path: string): Promise<string> {
  const result = await runCli(['sandbox', 'exec', 'out', '--', 'sha256sum', path], { env });
  expect(result.code).toBe(0);
  return result.stdout.split(' ')[0] ?? '';
}

describe('files and output of any size through the CLI', () => {
  test('sandbox write and read of a 100 MiB file, by sha256', async () => {
    const data = randomBytes(100 * MiB);
    const expected = createHash('sha256').update(data).digest('hex');
    const local = join(hostDir, 'big.bin');
    await writeFile(local, data);
    const written = await runCli(['sandbox', 'write', 'out', 'big.bin', local], { env });
    expect(written).toMatchObject({ code: 0, stderr: '' });
    expect(await boxSha256('/workspace/big.bin')).toBe(expected);

    const read = await runCliHashed(['sandbox', 'read', 'out', 'big.bin']);
    expect(read).toMatchObject({ code: 0, bytes: 100 * MiB, sha256: expected, stderr: '' });
  }, 180_000);

  test('sandbox exec streams 100 MiB of output whole, by sha256', async () => {
    await runCli(
      ['sandbox', 'exec', 'out', '--', 'sh', '-c', 'head -c 104857600 /dev/urandom > /tmp/o'],
      { env },
    );
    const expected = await boxSha256('/tmp/o');
    const result = await runCliHashed(['sandbox', 'exec', 'out', '--', 'cat', '/tmp/o']);
    expect(result).toMatchObject({ code: 0, bytes: 100 * MiB, sha256: expected, stderr: '' });
    await runCli(['sandbox', 'exec', 'out', '--', 'rm', '/tmp/o'], { env });
  }, 180_000);

  test('a reader that does not keep up holds the box back: neither CLI nor daemon piles it up', async () => {
    const daemon = await daemonPid();
    const before = await rss(daemon);
    const child = spawn(
      process.execPath,
      [BIN, 'sandbox', 'exec', 'out', '--', 'head', '-c', String(300 * MiB), '/dev/zero'],
      { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    child.stdout.pause();
    // While the reader sleeps, the output has nowhere to go but memory, if anything lets it.
    let daemonGrowth = 0;
    let cliRss = 0;
    for (let i = 0; i < 24; i++) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      daemonGrowth = Math.max(daemonGrowth, (await rss(daemon)) - before);
      cliRss = Math.max(cliRss, await rss(child.pid ?? 0));
    }
    let bytes = 0;
    child.stdout.on('data', (chunk: Buffer) => (bytes += chunk.length));
    child.stdout.resume();
    expect(await exited).toBe(0);
    expect(bytes).toBe(300 * MiB);
    expect(daemonGrowth, `daemon RSS grew ${daemonGrowth} bytes`).toBeLessThan(64 * MiB);
    expect(cliRss, `the CLI's RSS reached ${cliRss} bytes`).toBeLessThan(160 * MiB);
  }, 120_000);

  test('exec --json caps what it keeps, says so, and does not crash on 600 MiB', async () => {
    const result = await runCli([
      'exec',
      '--json',
      '--',
      'sh',
      '-c',
      'head -c 629145600 /dev/zero; echo done >&2',
    ]);
    expect(result.code).toBe(0);
    const parsed = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(parsed).toMatchObject({
      exitCode: 0,
      truncated: true,
      droppedBytes: 600 * MiB - 8 * MiB + 5, // "done\n" on stderr is past the cap too
    });
    expect(result.stderr).toMatch(/output truncated: \d+ bytes/);
  }, 120_000);
});

describe('sandbox write: destinations and sources', () => {
  test('a destination ending in / is a directory', async () => {
    const local = join(hostDir, 'note.txt');
    await writeFile(local, 'into the directory\n');
    expect((await runCli(['sandbox', 'write', 'out', 'docs/', local], { env })).code).toBe(0);
    const read = await runCli(['sandbox', 'read', 'out', 'docs/note.txt'], { env });
    expect(read).toMatchObject({ code: 0, stdout: 'into the directory\n' });
    const ls = await runCli(['sandbox', 'ls', 'out', 'docs', '--json'], { env });
    expect((JSON.parse(ls.stdout) as { name: string }[]).map((e) => e.name)).toEqual(['note.txt']);
  });

  test('a missing local source is the caller’s error, naming the path', async () => {
    const missing = join(hostDir, 'no-such-file');
    const result = await runCli(['sandbox', 'write', 'out', 'x.txt', missing], { env });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('INVALID_ARGUMENT');
    expect(result.stderr).toContain(missing);
    expect(result.stderr).not.toContain('INTERNAL');
  });
});

describe('file names are bytes through the CLI too', () => {
  test('ls shows a name that is not UTF-8 by its bytes; read and write take them in base64', async () => {
    const make =
      "mkdir -p /workspace/odd && printf 'odd one' > \"$(printf '/workspace/odd/n\\377')\"";
    expect((await runCli(['sandbox', 'exec', 'out', '--', 'sh', '-c', make], { env })).code).toBe(
      0,
    );
    const ls = await runCli(['sandbox', 'ls', 'out', 'odd', '--json'], { env });
    expect(ls.code).toBe(0);
    const [entry] = JSON.parse(ls.stdout) as {
      name: string;
      nameBytes?: string;
      pathBytes?: string;
    }[];
    expect(entry?.nameBytes).toBe(Buffer.from([0x6e, 0xff]).toString('base64'));
    const path = entry?.pathBytes ?? '';
    expect(Buffer.from(path, 'base64')).toEqual(Buffer.from('/workspace/odd/n\xff', 'latin1'));

    const read = await runCli(['sandbox', 'read', 'out', '--path-base64', path], { env });
    expect(read).toMatchObject({ code: 0, stdout: 'odd one' });
    const write = await runCli(['sandbox', 'write', 'out', '--path-base64', path, '-'], {
      env,
      input: 'rewritten',
    });
    expect(write.code).toBe(0);
    const again = await runCli(['sandbox', 'read', 'out', '--path-base64', path], { env });
    expect(again.stdout).toBe('rewritten');
  });
});

describe('one clear outcome', () => {
  const keys = [
    'droppedBytes',
    'durationMs',
    'exitCode',
    'oomKilled',
    'signal',
    'stderr',
    'stdout',
    'timedOut',
    'truncated',
  ];

  test('exec --json and sandbox exec --json give one shape; a timeout is 124 in both', async () => {
    const once = await runCli(['exec', '--json', '--timeout', '300ms', '--', 'sleep', '30']);
    const live = await runCli(
      ['sandbox', 'exec', 'out', '--json', '--timeout', '300ms', '--', 'sleep', '30'],
      { env },
    );
    for (const result of [once, live]) {
      expect(result.code).toBe(124);
      const parsed = JSON.parse(result.stdout) as Record<string, unknown>;
      expect(parsed).toMatchObject({ exitCode: 124, timedOut: true, signal: 'SIGKILL' });
      expect(result.stderr).toContain('TIMEOUT');
    }
    const onceKeys = Object.keys(JSON.parse(once.stdout) as object).sort();
    expect(onceKeys).toEqual([...keys, 'isolation'].sort());
    expect(Object.keys(JSON.parse(live.stdout) as object).sort()).toEqual(keys);
  });

  test('a failing --json run prints a JSON error object on stdout', async () => {
    const live = await runCli(['sandbox', 'exec', 'no-such-box', '--json', '--', 'true'], {
      env,
    });
    expect(live.code).toBe(125);
    const failure = JSON.parse(live.stdout) as { error: { code: string; message: string } };
    expect(failure.error.code).toBe('SANDBOX_NOT_FOUND');
    expect(failure.error.message).toContain('no-such-box');
    const once = await runCli(['exec', '--json', '--workspace', '/no/such/dir', '--', 'true']);
    expect(once.code).toBe(2);
    expect(JSON.parse(once.stdout)).toMatchObject({ error: { code: 'INVALID_ARGUMENT' } });
  });

  test.skipIf(!cgroups.available)(
    `an OOM kill says so on stderr and in JSON${cgroups.available ? '' : ` [skipped: ${cgroups.reason}]`}`,
    async () => {
      const allocate = ['python3', '-c', "b = b'x' * (256 << 20); print('allocated')"];
      const once = await runCli(['exec', '--memory', '64m', '--', ...allocate]);
      expect(once.code).toBe(137);
      expect(once.stderr).toContain('ironclaw: killed: out of memory (limit 64 MiB)');
      const json = await runCli(['exec', '--json', '--memory', '64m', '--', ...allocate]);
      expect(JSON.parse(json.stdout)).toMatchObject({ exitCode: 137, oomKilled: true });

      // A sandbox holds its guest agent (node, some 40 MiB) too: the OOM killer must pick the
      // allocation, not the agent, and the sandbox answers after.
      expect(
        (await runCli(['sandbox', 'create', '--id', 'oom', '--memory', '64m'], { env })).code,
      ).toBe(0);
      const live = await runCli(['sandbox', 'exec', 'oom', '--json', '--', ...allocate], { env });
      expect(live.code).toBe(137);
      expect(JSON.parse(live.stdout)).toMatchObject({
        exitCode: 137,
        signal: 'SIGKILL',
        oomKilled: true,
        memoryLimitBytes: 64 * MiB,
      });
      expect(live.stderr).toContain('ironclaw: killed: out of memory (limit 64 MiB)');
      // A plain SIGKILL is not an OOM kill.
      const killed = await runCli(
        ['sandbox', 'exec', 'oom', '--json', '--', 'sh', '-c', 'kill -9 $$'],
        {
          env,
        },
      );
      expect(JSON.parse(killed.stdout)).toMatchObject({ exitCode: 137, oomKilled: false });
      await runCli(['sandbox', 'rm', 'oom'], { env });
    },
    60_000,
  );
});
