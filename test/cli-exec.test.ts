import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { runCli } from './helpers/cli.js';

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
