import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runscBinary } from '../src/drivers/gvisor/platform.js';
import { probeCgroups } from './support/cgroup-probe.js';
import { qemuMissing } from './support/qemu-missing.js';
import { freshStateDir, runCli } from './helpers/cli.js';

// sandbox stats and sandbox list, with real bwrap boxes through the daemon.

interface Stats {
  id: string;
  driver: string;
  countedBy?: string;
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
const gvisorMissing = await runscBinary().then(
  () => (cgroups.available ? undefined : cgroups.reason),
  (error: Error) => error.message,
);
const qemuSkip = await qemuMissing();

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

  test.skipIf(gvisorMissing !== undefined)(
    `a gVisor box: its host cgroup, the whole sandbox${gvisorMissing === undefined ? '' : ` (skipped: ${gvisorMissing})`}`,
    { timeout: 180_000 },
    async () => {
      const created = await runCli(
        ['sandbox', 'create', '--id', 'gst', '--driver', 'gvisor', '--memory', '400m'],
        { env },
      );
      expect(created.code, created.stderr).toBe(0);
      const before = await stats('gst');
      expect(before).toMatchObject({ id: 'gst', driver: 'gvisor', countedBy: 'host cgroup' });
      expect(before.stats?.memoryLimitBytes).toBe(400 * 1024 ** 2);
      expect(before.stats?.memoryBytes).toBeGreaterThan(0);
      expect(before.stats?.pids).toBeGreaterThan(0);
      expect(before.stats?.pidsLimit).toBeGreaterThan(0);
      await runCli(
        ['sandbox', 'exec', 'gst', '--', 'python3', '-c', 'sum(i * i for i in range(3_000_000))'],
        { env },
      );
      const after = await stats('gst');
      expect(after.stats?.cpuSeconds).toBeGreaterThan(before.stats?.cpuSeconds ?? 0);
      const table = await runCli(['sandbox', 'stats', 'gst'], { env });
      expect(table.stdout).toMatch(/\ngst +gvisor +[\d.]+ \w+ \/ 400 MiB/);
      await runCli(['sandbox', 'rm', 'gst'], { env });
    },
  );

  test.skipIf(qemuSkip !== undefined)(
    `a QEMU box: the guest kernel's box cgroup, through the agent${qemuSkip === undefined ? '' : ` (skipped: ${qemuSkip})`}`,
    // Under TCG a VM boots slowly, slower still on a busy machine; the first one may build the image.
    { timeout: 600_000 },
    async () => {
      const created = await runCli(
        [
          'sandbox',
          'create',
          '--id',
          'qst',
          '--driver',
          'qemu',
          '--memory',
          '200m',
          '--pids',
          '64',
        ],
        { env },
      );
      expect(created.code, created.stderr).toBe(0);
      const before = await stats('qst');
      expect(before).toMatchObject({ id: 'qst', driver: 'qemu', countedBy: 'guest cgroup' });
      expect(before.stats).toMatchObject({ memoryLimitBytes: 200 * 1024 ** 2, pidsLimit: 64 });
      expect(before.stats?.memoryBytes).toBeGreaterThan(0);
      // The agent itself is in the box cgroup.
      expect(before.stats?.pids).toBeGreaterThan(0);
      await runCli(
        ['sandbox', 'exec', 'qst', '--', 'python3', '-c', 'sum(i * i for i in range(1_000_000))'],
        { env },
      );
      const after = await stats('qst');
      expect(after.stats?.cpuSeconds).toBeGreaterThan(before.stats?.cpuSeconds ?? 0);
      const table = await runCli(['sandbox', 'stats', 'qst'], { env });
      expect(table.stdout).toMatch(/\nqst +qemu +[\d.]+ \w+ \/ 200 MiB +[\d.]+% +\d+ \/ 64/);
      await runCli(['sandbox', 'rm', 'qst'], { env });
    },
  );

  test(
    'list shows when a sandbox was handed out, not when the pool made it',
    { timeout: 120_000 },
    async () => {
      // Once the pool holds a ready box, the next create hands that one out.
      const deadline = Date.now() + 100_000;
      for (;;) {
        const listing = await runCli(['sandbox', 'list', '--json'], { env });
        const { pool } = JSON.parse(listing.stdout) as { pool: { ready: number } };
        if (pool.ready >= 1) break;
        if (Date.now() > deadline) expect.fail(`the pool never filled: ${listing.stdout}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const created = await runCli(['sandbox', 'create', '--id', 'handed', '--json'], { env });
      const { fromPool } = JSON.parse(created.stdout) as { fromPool: boolean };
      expect(fromPool).toBe(true);
      const listed = await runCli(['sandbox', 'list', '--json'], { env });
      const { sandboxes } = JSON.parse(listed.stdout) as {
        sandboxes: { id: string; createdAt: string; handedOutAt: string }[];
      };
      const entry = sandboxes.find((sandbox) => sandbox.id === 'handed');
      const made = Date.parse(entry?.createdAt ?? '');
      const handed = Date.parse(entry?.handedOutAt ?? '');
      expect(handed).toBeGreaterThan(made);
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
