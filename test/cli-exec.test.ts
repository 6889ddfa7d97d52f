import { spawn } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, test } from 'vitest';
import { BIN, REPO, runCli } from './helpers/cli.js';

describe('ironclaw exec', () => {
  test('prints the command output and returns its exit status', async () => {
    const ok = await runCli(['exec', '--', 'python3', '-c', 'print(6*7)']);
    expect(ok).toMatchObject({ code: 0, stdout: '42\n' });
    const seven = await runCli(['exec', '--', 'sh', '-c', 'echo out; echo err >&2; exit 7']);
    expect(seven).toMatchObject({ code: 7, stdout: 'out\n', stderr: 'err\n' });
  });

  test('127 for a command that is not found, 126 for one that cannot be executed', async () => {
    const missing = await runCli(['exec', '--', 'no-such-command-xyz']);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toContain('not found');
    const directory = await runCli(['exec', '--', '/usr']);
    expect(directory.code).toBe(126);
  });

  test('a signal-killed command reports 128 + the signal, as shells do', async () => {
    const killed = await runCli(['exec', '--', 'sh', '-c', 'kill -TERM $$']);
    expect(killed.code).toBe(143);
  });

  test('--timeout kills the command and exits 124', async () => {
    const slow = await runCli(['exec', '--timeout', '500ms', '--', 'sleep', '30']);
    expect(slow.code).toBe(124);
    expect(slow.stderr).toContain('TIMEOUT');
  });

  test('stdin reaches the command', async () => {
    const cat = await runCli(['exec', '--', 'cat'], { input: 'through the box\n' });
    expect(cat).toMatchObject({ code: 0, stdout: 'through the box\n' });
  });

  test('--json prints one object with the output and the isolation report', async () => {
    const result = await runCli(['exec', '--json', '--', 'sh', '-c', 'echo hi; exit 3']);
    expect(result.code).toBe(3);
    const parsed = JSON.parse(result.stdout) as {
      exitCode: number;
      stdout: string;
      isolation: { driver: string; layers: Record<string, { on: boolean }> };
    };
    expect(parsed.exitCode).toBe(3);
    expect(parsed.stdout).toBe('hi\n');
    expect(parsed.isolation.driver).toBe('bwrap');
    expect(parsed.isolation.layers.namespaces?.on).toBe(true);
    expect(parsed.isolation.layers.network?.on).toBe(true);
  });

  test('--workspace copies a directory in; the box cannot change the host copy', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ironclaw-ws-'));
    await mkdir(join(dir, 'sub'));
    await writeFile(join(dir, 'sub', 'note.txt'), 'from the host\n');
    const result = await runCli([
      'exec',
      '--workspace',
      dir,
      '--',
      'sh',
      '-c',
      'cat sub/note.txt && echo changed > sub/note.txt && cat sub/note.txt',
    ]);
    expect(result).toMatchObject({ code: 0, stdout: 'from the host\nchanged\n' });
    const again = await runCli(['exec', '--workspace', dir, '--', 'cat', 'sub/note.txt']);
    expect(again.stdout).toBe('from the host\n');
  });

  test('a sandbox that cannot start exits 125 with the reason', async () => {
    const broken = await runCli(['exec', '--', 'true'], {
      env: { IRONCLAW_BWRAP: '/nonexistent/bwrap' },
    });
    expect(broken.code).toBe(125);
    expect(broken.stderr).toContain('SANDBOX_START_FAILED');
    expect(broken.stderr).toContain('/nonexistent/bwrap');
  });

  test('a --workspace that is not a directory is a usage error', async () => {
    const missing = await runCli(['exec', '--workspace', '/nonexistent-dir-xyz', '--', 'true']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('not a directory');
  });

  test('bad flags are usage errors (2) with a clear message, never ignored', async () => {
    const unknown = await runCli(['exec', '--frobnicate', '--', 'true']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('frobnicate');
    const badTimeout = await runCli(['exec', '--timeout', 'soon', '--', 'true']);
    expect(badTimeout.code).toBe(2);
    expect(badTimeout.stderr).toContain('--timeout');
    const nothing = await runCli(['exec']);
    expect(nothing.code).toBe(2);
    const command = await runCli(['no-such-subcommand']);
    expect(command.code).toBe(2);
  });

  test('--memory is enforced through a cgroup, or refused when there is none', async () => {
    const result = await runCli([
      'exec',
      '--memory',
      '64m',
      '--',
      'python3',
      '-c',
      'b = bytearray(256 * 1024 * 1024); print("allocated")',
    ]);
    if (result.code === 125) {
      expect(result.stderr).toContain('POLICY_UNENFORCEABLE');
    } else {
      expect(result.stdout).not.toContain('allocated');
      expect(result.code).not.toBe(0);
    }
  });
});

/*
 * A plain `ironclaw exec` hands its process over to the box (process.execve, Node >= 22.15);
 * any option that needs node to watch the run (here --timeout) keeps the supervised path. Both
 * must build the same box: these tests run each through both and compare what the box sees.
 */
const hasExecve = typeof process.execve === 'function';
const isRoot = process.getuid?.() === 0;
const noExecve = hasExecve ? '' : ' [skipped: this node has no process.execve]';

interface Exec {
  code: number | null;
  stdout: string;
  stderr: string;
  /** HANDOVER: the CLI replaced itself with the box; EXIT: node supervised it and exited. */
  ending: string | undefined;
}

/** Runs the CLI (argv[0] may be another copy of bin/ironclaw.cjs) and reports how it ended. */
function exec(
  args: string[],
  options: { bin?: string; env?: NodeJS.ProcessEnv; prefix?: string[] } = {},
): Promise<Exec> {
  const preload = join(REPO, 'test', 'fixtures', 'report-hand-over.cjs');
  const [file = process.execPath, ...rest] = [
    ...(options.prefix ?? []),
    process.execPath,
    '--require',
    preload,
    options.bin ?? BIN,
    'exec',
    ...args,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(file, rest, {
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      const ending = /^(HANDOVER|EXIT) /m.exec(stderr)?.[1];
      resolve({ code, stdout, stderr: stderr.replace(/^\n?(HANDOVER|EXIT) .*\n/m, ''), ending });
    });
  });
}

/** What a box shows of its isolation: ids, capabilities, seccomp, signals, rlimits, env, fds, mounts. */
const CANARY = [
  // Each box has a host uid of its own (as root): the maps' outer uid is masked.
  "id; sed -E 's/^( *[0-9]+ +)[0-9]+/\\1HOST/' /proc/self/uid_map /proc/self/gid_map",
  'hostname; echo "pid $$ ppid $PPID"; umask',
  "grep -E '^(Uid|Gid|Groups|NoNewPrivs|Seccomp|Seccomp_filters|SigBlk|SigIgn|Cap[A-Za-z]+):' /proc/self/status",
  'ulimit -a; env | sort; ls /proc/self/fd',
  // Without mount ids, device numbers and the box's host uid, which differ from box to box.
  "cut -d' ' -f4- /proc/self/mountinfo | sed -E 's/ (shared|master|propagate_from):[0-9]+//g; s#/bindfile[^/]*#/bindfile#; s/uid=[0-9]+,gid=[0-9]+/uid=HOST,gid=HOST/'",
  'touch /usr/x /etc/x /x 2>&1; touch /tmp/x /workspace/x && echo writable',
  'cut -d: -f1 /proc/net/dev | tail -n +3; ls -A /',
].join('\n');

describe('the hand-over and the supervised path', () => {
  test.skipIf(!hasExecve)(`build the same box: one canary, one answer${noExecve}`, async () => {
    const handedOver = await exec(['--', 'sh', '-c', CANARY]);
    const supervised = await exec(['--timeout', '10m', '--', 'sh', '-c', CANARY]);
    expect(handedOver).toMatchObject({ code: 0, ending: 'HANDOVER' });
    expect(supervised).toMatchObject({ code: 0, ending: 'EXIT' });
    expect(handedOver.stdout).toBe(supervised.stdout);
    // And it is a box: no capabilities, the filter on, signals at their defaults, rlimits set.
    for (const line of [
      'CapEff:\t0000000000000000',
      'NoNewPrivs:\t1',
      'Seccomp:\t2',
      'SigIgn:\t0000000000000000',
      'nofiles              4096',
      "cannot touch '/x': Read-only file system",
    ]) {
      expect(handedOver.stdout).toContain(line);
    }
  });

  test.skipIf(!hasExecve)(
    `run bwrap with the same command line, the supervisor's info descriptor aside${noExecve}`,
    async () => {
      // A bwrap that writes down its arguments, then runs the real one. As root the box runs as
      // a uid of its own, which must be able to run it and write there.
      const dir = await mkdtemp(join(tmpdir(), 'ironclaw-argv-'));
      try {
        await chmod(dir, 0o777);
        const wrapper = join(dir, 'bwrap');
        await writeFile(
          wrapper,
          `#!/bin/sh\nprintf '%s\\n' "$@" > ${dir}/argv.$$\nexec bwrap "$@"\n`,
          { mode: 0o755 },
        );
        const env = { IRONCLAW_BWRAP: wrapper };
        expect(await exec(['--', 'echo', 'one'], { env })).toMatchObject({
          code: 0,
          ending: 'HANDOVER',
        });
        expect(await exec(['--timeout', '1m', '--', 'echo', 'one'], { env })).toMatchObject({
          code: 0,
          ending: 'EXIT',
        });
        const [first, second] = await Promise.all(
          (await readdir(dir))
            .filter((name) => name.startsWith('argv.'))
            .map(async (name) => (await readFile(join(dir, name), 'utf8')).split('\n')),
        );
        const withInfo = first?.includes('--info-fd') ? first : second;
        const without = withInfo === first ? second : first;
        const at = withInfo?.indexOf('--info-fd') ?? -1;
        expect(at).toBeGreaterThan(0);
        withInfo?.splice(at, 2);
        expect(without).toEqual(withInfo);
        expect(without).toContain('--seccomp');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );

  test('a node without process.execve (before 22.15) runs a plain exec supervised', async () => {
    const older = join(REPO, 'test', 'fixtures', 'without-execve.cjs');
    const result = await exec(['--', 'echo', 'ok'], {
      env: { NODE_OPTIONS: `--require ${older}` },
    });
    expect(result).toMatchObject({ code: 0, stdout: 'ok\n', ending: 'EXIT' });
  });

  test('a command that exits 125 itself is not reported as a sandbox that did not start', async () => {
    for (const options of [[], ['--timeout', '1m']]) {
      const result = await exec([...options, '--', 'sh', '-c', 'exit 125']);
      expect(result.code).toBe(125);
      expect(result.stderr).not.toContain('SANDBOX_START_FAILED');
    }
  });

  test(
    'killing the CLI (SIGTERM) ends its box, with nothing left running',
    { timeout: 120_000 },
    async () => {
      for (const options of [[], ['--timeout', '10m']]) {
        const marker = `ironclaw-kill-test-${process.pid}-${options.length}`;
        const cli = spawn(
          process.execPath,
          [BIN, 'exec', ...options, '--', 'sh', '-c', `sleep 60; : ${marker}`],
          { stdio: 'ignore' },
        );
        const exited = new Promise((resolve) => cli.once('exit', resolve));
        expect(await waitFor(marker, true), 'the box did not start').toBe(true);
        cli.kill('SIGTERM');
        await exited;
        expect(
          await waitFor(marker, false),
          `a process of ${options.join(' ') || 'the hand-over'} outlived the CLI`,
        ).toBe(true);
      }
    },
  );

  test.skipIf(!isRoot || !hasExecve)(
    `as root, a package the box's uid cannot read keeps the supervised path, and works${isRoot ? '' : ' [skipped: needs root]'}`,
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'ironclaw-private-')); // 0700: nobody cannot enter
      try {
        await Promise.all(
          ['bin', 'dist', 'box', 'package.json'].map((name) =>
            cp(join(REPO, name), join(dir, name), { recursive: true }),
          ),
        );
        const result = await exec(['--', 'echo', 'ok'], { bin: join(dir, 'bin', 'ironclaw.cjs') });
        expect(result).toMatchObject({ code: 0, stdout: 'ok\n', ending: 'EXIT' });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );

  test.skipIf(!isRoot)(
    `a workspace file the user cannot read stops the box before the command, saying why${isRoot ? '' : ' [skipped: needs root to switch user]'}`,
    async () => {
      // As uid 65534, a root-owned file of mode 000 is unreadable: the archive is cut short
      // there (a tar would skip it and unpack cleanly). Nothing may run on a partial workspace.
      const dir = await mkdtemp(join(tmpdir(), 'ironclaw-ws-'));
      try {
        await chmod(dir, 0o755);
        await writeFile(join(dir, 'readable.txt'), 'yes\n', { mode: 0o644 });
        await writeFile(join(dir, 'locked.txt'), 'secret\n', { mode: 0o000 });
        const prefix = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'];
        const result = await exec(['--workspace', dir, '--', 'sh', '-c', 'echo command ran'], {
          prefix,
        });
        expect(result.stdout).not.toContain('command ran');
        expect(result.code).toBe(125);
        expect(result.stderr).toContain('SANDBOX_START_FAILED');
        expect(result.stderr).toMatch(/locked\.txt.*permission denied/i);
        // The control: a workspace it can read whole runs the command.
        await rm(join(dir, 'locked.txt'));
        const whole = await exec(['--workspace', dir, '--', 'cat', 'readable.txt'], { prefix });
        expect(whole).toMatchObject({ code: 0, stdout: 'yes\n' });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );

  test.skipIf(!isRoot || !hasExecve)(
    `as an unprivileged user too, the same canary gets the same answer${isRoot ? '' : ' [skipped: needs root to switch user]'}`,
    async () => {
      const prefix = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'];
      const handedOver = await exec(['--', 'sh', '-c', CANARY], { prefix });
      const supervised = await exec(['--timeout', '10m', '--', 'sh', '-c', CANARY], { prefix });
      expect(handedOver).toMatchObject({ code: 0, ending: 'HANDOVER' });
      expect(supervised).toMatchObject({ code: 0, ending: 'EXIT' });
      expect(handedOver.stdout).toBe(supervised.stdout);
    },
  );
});

/**
 * Polls until a process whose command line holds `marker` is running (or gone); false on a 20 s
 * deadline (a time, not a count of tries: under load each pgrep itself takes a while).
 */
async function waitFor(marker: string, running: boolean): Promise<boolean> {
  for (const deadline = Date.now() + 20_000; Date.now() < deadline;) {
    const found = await new Promise<boolean>((resolve) => {
      spawn('pgrep', ['-f', marker], { stdio: 'ignore' }).once('exit', (code) =>
        resolve(code === 0),
      );
    });
    if (found === running) return true;
    await delay(100);
  }
  return false;
}
