import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { probeCgroups } from './support/cgroup-probe.js';
import { freshStateDir, runCli } from './helpers/cli.js';

// sandbox stats and sandbox list, with real bwrap boxes through the daemon.

interface Stats {
  id: string;
  driver: string;
  stats?: {
    memoryBytes: number;
    memoryLimitBytes: number | null;
    pids: number;
    pidsLimit: number | null;
    cpuSeconds: number;
  };
  why?: string;
}

let env: NodeJS.ProcessEnv;
const cgroups = await probeCgroups();

beforeAll(async () => {
  env = { IRONCLAW_STATE_DIR: await freshStateDir(), IRONCLAW_POOL_SIZE: '1' };
});

afterAll(async () => {
  await runCli(['daemon', '--stop'], { env });
});

async function stats(id: string): Promise<Stats> {
  const result = await runCli(['sandbox', 'stats', id, '--json'], { env });
  expect(result.code, result.stderr).toBe(0);
  const [row] = JSON.parse(result.stdout) as Stats[];
  return row as Stats;
}

describe('sandbox stats', () => {
  test.skipIf(!cgroups.available)(
    `memory, pids and CPU time against the limits${cgroups.available ? '' : ` (skipped: ${cgroups.reason})`}`,
    { timeout: 120_000 },
    async () => {
      const created = await runCli(
        ['sandbox', 'create', '--id', 'st', '--memory', '300m', '--pids', '50'],
        { env },
      );
      expect(created.code, created.stderr).toBe(0);
      const before = await stats('st');
      expect(before).toMatchObject({ id: 'st', driver: 'bwrap' });
      expect(before.stats).toMatchObject({ memoryLimitBytes: 300 * 1024 ** 2, pidsLimit: 50 });
      expect(before.stats?.memoryBytes).toBeGreaterThan(0);
      expect(before.stats?.pids).toBeGreaterThan(0);
      // A busy command's CPU time is counted once it has run (a fixed amount of work).
      await runCli(
        ['sandbox', 'exec', 'st', '--', 'python3', '-c', 'sum(i * i for i in range(3_000_000))'],
        { env },
      );
      const after = await stats('st');
      expect(after.stats?.cpuSeconds).toBeGreaterThan(before.stats?.cpuSeconds ?? 0);

      const table = await runCli(['sandbox', 'stats'], { env });
      expect(table.stdout).toMatch(/^SANDBOX +DRIVER +MEMORY \/ LIMIT/);
      expect(table.stdout).toMatch(/\nst +bwrap +[\d.]+ \w+ \/ 300 MiB/);
      await runCli(['sandbox', 'rm', 'st'], { env });
    },
  );

  test(
    'list shows when a sandbox was handed out, not when the pool made it',
    { timeout: 120_000 },
    async () => {
      const created = await runCli(['sandbox', 'create', '--id', 'handed', '--json'], { env });
      const { fromPool } = JSON.parse(created.stdout) as { fromPool: boolean };
      const listed = await runCli(['sandbox', 'list', '--json'], { env });
      const { sandboxes } = JSON.parse(listed.stdout) as {
        sandboxes: { id: string; createdAt: string; handedOutAt: string }[];
      };
      const entry = sandboxes.find((sandbox) => sandbox.id === 'handed');
      const made = Date.parse(entry?.createdAt ?? '');
      const handed = Date.parse(entry?.handedOutAt ?? '');
      expect(handed).toBeGreaterThanOrEqual(made);
      if (fromPool) expect(handed).toBeGreaterThan(made);
      const text = await runCli(['sandbox', 'list'], { env });
      expect(text.stdout).toContain(`handed\t${entry?.handedOutAt}\n`);
      await runCli(['sandbox', 'rm', 'handed'], { env });
    },
  );

  test('an unknown sandbox is SANDBOX_NOT_FOUND', async () => {
    const result = await runCli(['sandbox', 'stats', 'no-such-box'], { env });
    expect(result.code).toBe(125);
    expect(result.stderr).toContain('SANDBOX_NOT_FOUND');
  });
});
