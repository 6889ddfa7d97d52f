import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { createSandbox, type Sandbox } from '../src/index.js';
import { DEFAULT_LEASE_DIR } from '../src/host/uid-lease.js';
import { runscBinary } from '../src/drivers/gvisor/platform.js';
import { expectBoxUid } from './support/box-uid.js';
import { probeCgroups } from './support/cgroup-probe.js';
import { uniqueId } from './suites/suite-context.js';

/**
 * The per-box process budget: RLIMIT_NPROC is counted per host uid, so boxes sharing one uid
 * share one budget. By default, as root, each box gets a uid of its own, and a box that
 * fork-bombs up to its limit leaves the other able to start processes; with `boxUids: false`
 * (one uid for both, the negative control), the bomb starves the other. A gVisor box's bomb is
 * held by its own kernel's task limit (RLIMIT_NPROC inside gVisor) whatever its host uid; what a
 * uid of its own adds there is below: a sentry that broke out cannot reach another box's.
 */
const asRoot = process.getuid?.() === 0;
const cgroups = await probeCgroups();
const skip = asRoot
  ? ''
  : ' [skipped: box uids are host uids, handed out only when IronClaw is root]';

/** Starts up to `count` sleeps and leaves them running; prints how many started. */
function sleeps(count: number): string {
  return [
    `( i=0; while [ $i -lt ${count} ]; do sleep 1000 & i=$((i+1)); echo $i > /tmp/started; done ) 2>&1`,
    'read -r n < /tmp/started; echo "started $n"',
  ].join('\n');
}

describe.skipIf(!asRoot)(`per-box host uids, the default as root (bwrap)${skip}`, () => {
  /** The limit bites as RLIMIT_NPROC: the pids cgroup, where there is one, is set far above. */
  const limits = { processes: 64, ...(cgroups.available ? { pids: 4096 } : {}) };

  /**
   * The bomber starts processes until fork fails and keeps them; then the other box starts ten
   * of its own and keeps them too (more than the few a finished command of the bomber frees).
   * Each step waits for the command's end, never for time.
   */
  async function bombThenSpawn(bomber: Sandbox, other: Sandbox): Promise<string> {
    const bomb = (await bomber.exec(sleeps(300), { timeoutMs: 60_000 })).stdout.toString();
    expect(bomb).toMatch(/fork|resource temporarily unavailable/i);
    expect(Number(/^started (\d+)$/m.exec(bomb)?.[1])).toBeLessThan(64);
    return other.exec(sleeps(10), { timeoutMs: 60_000 }).then(
      (result) => result.stdout.toString(),
      (error: Error) => error.message, // the agent itself could not start the command
    );
  }

  test('each box gets a host uid of its own, unasked: one fork-bombing leaves the other spawning', async () => {
    const leases: string[] = [];
    {
      await using bomber = await createSandbox({ id: uniqueId('bomber'), limits });
      await using other = await createSandbox({ id: uniqueId('other'), limits });
      expect(bomber.isolation.hostUid).not.toBe(other.isolation.hostUid);
      for (const box of [bomber, other]) {
        expectBoxUid(box.isolation.hostUid);
        leases.push(join(DEFAULT_LEASE_DIR, String(box.isolation.hostUid)));
        await access(leases.at(-1) ?? '');
      }
      expect(await bombThenSpawn(bomber, other)).toBe('started 10\n');
    }
    // Destroyed: both uids are given back.
    for (const lease of leases) await expect(access(lease)).rejects.toThrow(/ENOENT/);
  }, 120_000);

  test('a range of its own from the configuration', async () => {
    const boxUids = { first: 0x70001000, count: 16 };
    await using box = await createSandbox({ id: uniqueId('ranged'), limits, boxUids });
    expect(box.isolation.hostUid).toBeGreaterThanOrEqual(boxUids.first);
    expect(box.isolation.hostUid).toBeLessThan(boxUids.first + boxUids.count);
  }, 120_000);

  test('negative control: with boxUids false, one host uid for both, the bomb starves the other box', async () => {
    const shared = { boxUids: false as const, rootBoxUid: 0x70002000, limits };
    await using bomber = await createSandbox({ id: uniqueId('bomber'), ...shared });
    await using other = await createSandbox({ id: uniqueId('other'), ...shared });
    expect([bomber.isolation.hostUid, other.isolation.hostUid]).toEqual([0x70002000, 0x70002000]);
    expect(await bombThenSpawn(bomber, other)).not.toContain('started 10');
  }, 120_000);
});

const runsc = await runscBinary().then(
  () => undefined,
  (error: Error) => error.message,
);

/**
 * What a box that broke out of its sandbox onto the host (as its host uid: a bwrap box's
 * process, a gVisor sentry or gofer) could do to another box: signal or ptrace its processes,
 * which the kernel allows between processes of one uid. `kill -0` run as one box's uid asks
 * exactly that of the other box's host process.
 */
async function canSignal(fromUid: number, pid: number): Promise<boolean> {
  const child = spawn('kill', ['-0', String(pid)], {
    uid: fromUid,
    gid: fromUid,
    stdio: 'ignore',
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  return code === 0;
}

for (const driver of ['bwrap', 'gvisor'] as const) {
  const unavailable = driver === 'gvisor' ? runsc : undefined;
  const why = !asRoot ? skip : unavailable ? ` [skipped: ${unavailable}]` : '';
  describe.skipIf(!asRoot || unavailable !== undefined)(
    `one box's host uid cannot reach another box's processes (${driver})${why}`,
    () => {
      test('by default each box is its own uid: one cannot signal the other', async () => {
        await using first = await createSandbox({ driver, id: uniqueId('first') });
        await using second = await createSandbox({ driver, id: uniqueId('second') });
        expectBoxUid(first.isolation.hostUid);
        expectBoxUid(second.isolation.hostUid);
        expect(await canSignal(first.isolation.hostUid, second.boxPid)).toBe(false);
        // The control within: the same uid reaches its own box.
        expect(await canSignal(second.isolation.hostUid, second.boxPid)).toBe(true);
      }, 120_000);

      test('negative control: with boxUids false, one box reaches the other', async () => {
        const shared = { driver, boxUids: false as const, rootBoxUid: 0x70003000 };
        await using first = await createSandbox({ id: uniqueId('first'), ...shared });
        await using second = await createSandbox({ id: uniqueId('second'), ...shared });
        expect(await canSignal(first.isolation.hostUid, second.boxPid)).toBe(true);
      }, 120_000);
    },
  );
}
