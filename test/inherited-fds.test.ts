import { spawn } from 'node:child_process';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { BIN, REPO } from './helpers/cli.js';

// Node marks inherited descriptors close-on-exec at start-up, but only up to the first gap past
// 15 (libuv's uv_disable_stdio_inheritance); one at 40 stays inheritable, as a leak would.
const LEAKED = 40;

/** Runs `argv` with the host's /tmp open as an inherited (not close-on-exec) descriptor. */
async function runWithLeakedFd(
  argv: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const dir = await open('/tmp', 'r');
  try {
    return await new Promise((resolve, reject) => {
      const stdio = [
        'ignore',
        'pipe',
        'pipe',
        ...Array<'ignore'>(LEAKED - 3).fill('ignore'),
        dir.fd,
      ] as const;
      const child = spawn(argv[0] ?? '', argv.slice(1), { stdio: [...stdio] });
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stdout, stderr }));
    });
  } finally {
    await dir.close();
  }
}

const listOwnFds = ['sh', '-c', 'ls /proc/$$/fd'];

describe('descriptors leaked to IronClaw never reach a box', () => {
  test('negative control: a plain bwrap box does inherit the leaked descriptor', async () => {
    const result = await runWithLeakedFd([
      'bwrap',
      '--unshare-all',
      '--ro-bind',
      '/usr',
      '/usr',
      '--symlink',
      'usr/bin',
      '/bin',
      '--symlink',
      'usr/lib',
      '/lib',
      '--symlink',
      'usr/lib64',
      '/lib64',
      '--proc',
      '/proc',
      '--dev',
      '/dev',
      ...listOwnFds,
    ]);
    expect(result.stdout.split('\n')).toContain(String(LEAKED));
  });

  test('the ironclaw CLI closes it before starting the box', async () => {
    const result = await runWithLeakedFd([process.execPath, BIN, 'exec', '--', ...listOwnFds]);
    expect(result.code).toBe(0);
    expect(result.stdout.split('\n')).not.toContain(String(LEAKED));
  });

  test('the library refuses to start a box while the process holds one', async () => {
    const script = `import(${JSON.stringify(join(REPO, 'dist', 'index.js'))}).then((m) => m.runOnce(['true'], { stdio: 'pipe' })).then(() => console.log('started'), (e) => console.log(e.code, e.message))`;
    const result = await runWithLeakedFd([process.execPath, '-e', script]);
    expect(result.stdout).toContain('SANDBOX_START_FAILED');
    expect(result.stdout).toContain('closeInheritedFds');
    expect(result.stdout).not.toContain('started');
  });
});
