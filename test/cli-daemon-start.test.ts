// A daemon that fails to start is reported in its own words, and only in them: its log is
// appended to across starts, and an earlier start's errors must not pass for this one's.
import { spawnSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { freshStateDir, runCli } from './helpers/cli.js';

test('the CLI shows what this start of the daemon wrote, not older lines of its log', async () => {
  const stateDir = await freshStateDir();
  await writeFile(
    join(stateDir, 'daemon.log'),
    'ironclaw: INTERNAL: an OLD failure of an earlier start\nironclaw: another OLD line\n',
    { mode: 0o600 },
  );
  const config = join(await mkdtemp(join(tmpdir(), 'ironclaw-config-')), 'config.json');
  await writeFile(config, JSON.stringify({ pool: { size: 1000 } }));
  const result = await runCli(['sandbox', 'list'], {
    env: { IRONCLAW_STATE_DIR: stateDir, IRONCLAW_CONFIG: config },
  });
  expect(result.code).toBe(125);
  expect(result.stderr).toMatch(/^ironclaw: DAEMON_UNAVAILABLE: the daemon exited while starting/);
  expect(result.stderr).toContain('pool.size: must be at most 64, got 1000');
  expect(result.stderr).not.toContain('OLD');
});

test('starting a new daemon over one that ended without stopping says so', async () => {
  const stateDir = await freshStateDir();
  const env = { IRONCLAW_STATE_DIR: stateDir, IRONCLAW_POOL_SIZE: '0' };
  // What a daemon killed with SIGKILL leaves: its socket, with nobody listening.
  const bound = spawnSync('python3', [
    '-c',
    'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])',
    join(stateDir, 'daemon.sock'),
  ]);
  expect(bound.status, bound.stderr.toString()).toBe(0);
  try {
    const result = await runCli(['sandbox', 'list'], { env });
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/^ironclaw: the previous daemon ended without being stopped/);
    const again = await runCli(['sandbox', 'list'], { env });
    expect(again).toMatchObject({ code: 0, stderr: '' });
  } finally {
    await runCli(['daemon', '--stop'], { env });
  }
});
