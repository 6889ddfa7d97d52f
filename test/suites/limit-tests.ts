import { describe, expect, test } from 'vitest';
import type { Sandbox } from '../../src/index.js';
import { expectCode } from '../support/expect-code.js';
import { eventually } from '../support/host-processes.js';
import { type SuiteContext, uniqueId } from './suite-context.js';

const MiB = 1024 ** 2;

/**
 * Starts up to `count` background sleeps, records how many started in /tmp/started, then kills
 * its own process group so the box is not left full. Only builtins run after the forks fail.
 */
function forkBomb(count: number): string {
  return [
    `( i=0; while [ $i -lt ${count} ]; do sleep 1000 & i=$((i+1)); echo $i > /tmp/started; done ) 2>&1`,
    'read -r n < /tmp/started; echo "started $n"',
    "trap '' TERM; kill 0",
  ].join('\n');
}

function startedCount(output: string): number {
  return Number(/^started (\d+)$/m.exec(output)?.[1] ?? Number.NaN);
}

async function expectUsable(box: Sandbox): Promise<void> {
  const sleeps = await eventually(
    async () =>
      (await box.exec('grep -l "^sleep$" /proc/[0-9]*/comm 2>/dev/null | wc -l')).stdout
        .toString()
        .trim(),
    (count) => count === '0',
  );
  expect(sleeps).toBe('0');
  const alive = await box.exec(['echo', 'alive']);
  expect(alive).toMatchObject({ exitCode: 0 });
  expect(alive.stdout.toString()).toBe('alive\n');
}

/** A "name value" line of a cgroup statistics file of the box's guest cgroup, read in the box. */
async function guestCounter(box: Sandbox, file: string, name: string): Promise<number> {
  const text = (await box.exec(['cat', `/sys/fs/cgroup/box/${file}`])).stdout.toString();
  const match = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
  if (!match?.[1]) throw new Error(`guest ${file} has no "${name}" line: ${JSON.stringify(text)}`);
  return Number(match[1]);
}

/** Resource limits: what a box cannot take from its host. */
export function defineLimitTests(ctx: SuiteContext): void {
  const { cgroups } = ctx.options;
  // A VM has its own kernel, with cgroups whatever the host lets this user do.
  const vm = ctx.options.vm === true;
  const cgroupsOn = vm || cgroups.available;
  const noCgroups = cgroupsOn || cgroups.available ? '' : ` [skipped: ${cgroups.reason}]`;
  const pidsLimitHits = (box: Sandbox, id: string): Promise<number> =>
    vm
      ? guestCounter(box, 'pids.events', 'max')
      : cgroups.available
        ? cgroups.pidsLimitHits(id)
        : Promise.reject(new Error('no cgroups'));
  const oomKills = (box: Sandbox, id: string): Promise<number> =>
    vm
      ? guestCounter(box, 'memory.events', 'oom_kill')
      : cgroups.available
        ? cgroups.oomKills(id)
        : Promise.reject(new Error('no cgroups'));

  describe('limits', () => {
    // gVisor: the pids limit is RLIMIT_NPROC inside the gVisor kernel (it counts every task of
    // the box's uid); the host cgroup only has a far higher backstop, which must not be hit.
    const pidsLimit =
      ctx.driver === 'gvisor'
        ? 'pids limit (in the gVisor kernel)'
        : vm
          ? 'pids cgroup (in the guest kernel)'
          : 'pids cgroup';
    test.skipIf(!cgroupsOn)(
      `the ${pidsLimit} contains a fork bomb and the box stays usable${noCgroups}`,
      async () => {
        const id = uniqueId('pids');
        await using box = await ctx.create({ id, limits: { pids: 64 } });
        const result = await box.exec(forkBomb(200), { timeoutMs: 20_000 });
        const output = result.stdout.toString();
        expect(output).toMatch(/fork|resource temporarily unavailable/i);
        const started = startedCount(output);
        expect(started).toBeGreaterThan(0);
        expect(started).toBeLessThan(64);
        if (ctx.driver === 'gvisor') expect(await pidsLimitHits(box, id)).toBe(0);
        else expect(await pidsLimitHits(box, id)).toBeGreaterThan(0); // the cgroup refused, not an rlimit
        await expectUsable(box);
      },
    );

    // Runs unprivileged too: without cgroups, RLIMIT_NPROC is the only fork-bomb backstop.
    test(
      'RLIMIT_NPROC contains a fork bomb where the pids cgroup is not the limit',
      async () => {
        const id = uniqueId('nproc');
        // With cgroups, the pids limit is set far above the rlimit so the rlimit is what bites.
        // RLIMIT_NPROC counts every task of the box's host uid: as root each box has one of its
        // own (by default), so other boxes, sentries and VMMs running meanwhile do not count.
        await using box = await ctx.create({
          id,
          limits: { processes: 128, ...(cgroupsOn ? { pids: 4096 } : {}) },
        });
        const result = await box.exec(forkBomb(300), { timeoutMs: 20_000 });
        const output = result.stdout.toString();
        expect(output).toMatch(/fork|resource temporarily unavailable/i);
        const started = startedCount(output);
        expect(started).toBeGreaterThan(0);
        expect(started).toBeLessThan(128);
        if (cgroupsOn) expect(await pidsLimitHits(box, id)).toBe(0);
        await expectUsable(box);
        // A VM's create and a 300-process bomb under emulation take 15 s alone, more under load.
      },
      vm ? 90_000 : 30_000,
    );

    // gVisor: the memory cgroup holds the whole sandbox, and the host OOM killer picks the sentry,
    // so a box that allocates past its limit is ended as a whole rather than losing one process.
    const gvisor = ctx.driver === 'gvisor';
    test.skipIf(!cgroupsOn)(
      `the memory cgroup${vm ? ' (in the guest kernel)' : ''} ${gvisor ? 'ends the whole gVisor sandbox when it allocates' : 'kills a process that allocates'} past it${noCgroups}`,
      async () => {
        const id = uniqueId('memory');
        // 64 MiB: the guest agent (node, some 40 MiB) can be the larger of the two when the limit
        // is met; it survives because what it starts is the OOM killer's first choice. A VM
        // stays at 128 MiB: at 64 its exec did not return within 120 s here (not yet known why).
        const memoryBytes = (vm ? 128 : 64) * MiB;
        await using box = await ctx.create({ id, limits: { memoryBytes } });
        // b'x' * n writes every byte, so the pages are really charged (a zeroed buffer would not be).
        const allocate = ['python3', '-c', "b = b'x' * (256 << 20); print('allocated', len(b))"];
        if (gvisor) {
          const ended = await expectCode(() => box.exec(allocate), 'CHANNEL_CLOSED');
          // Said in words, not a bare channel error.
          expect(ended.message).toContain(
            `the gVisor box was killed: out of memory (limit ${memoryBytes / MiB} MiB)`,
          );
          expect(box.alive).toBe(false);
          expect(await oomKills(box, id)).toBeGreaterThanOrEqual(1);
        } else {
          const result = await box.exec(allocate);
          expect(result.stdout.toString()).not.toContain('allocated');
          // The result says why, from the box's memory cgroup (the host's, or the guest's in a VM).
          expect(result).toMatchObject({
            exitCode: null,
            signal: 'SIGKILL',
            timedOut: false,
            oomKilled: true,
          });
          expect(await oomKills(box, id)).toBeGreaterThanOrEqual(1);
          // A SIGKILL that is not the OOM killer's is not reported as one.
          const killed = await box.exec(['sh', '-c', 'kill -KILL $$']);
          expect(killed).toMatchObject({ signal: 'SIGKILL' });
          expect(killed.oomKilled).toBeUndefined();
          await expectUsable(box);
        }
      },
    );

    test.skipIf(cgroupsOn)(
      `without cgroups a memory limit is refused with POLICY_UNENFORCEABLE (fail closed)${vm ? ' [skipped: a VM has cgroups in its own kernel]' : cgroups.available ? ' [skipped: cgroups are available here]' : ''}`,
      async () => {
        const error = await expectCode(
          () => ctx.create({ limits: { memoryBytes: 64 * MiB } }),
          'POLICY_UNENFORCEABLE',
        );
        expect(error.message).toMatch(/memory/);
        if (ctx.driver === 'gvisor') {
          // gVisor enforces pids inside its own kernel (RLIMIT_NPROC), which needs no cgroup.
          await (await ctx.create({ limits: { pids: 64 } })).destroy();
        } else {
          const pids = await expectCode(
            () => ctx.create({ limits: { pids: 64 } }),
            'POLICY_UNENFORCEABLE',
          );
          expect(pids.message).toMatch(/processes/);
        }
      },
    );

    test('RLIMIT_FSIZE stops a write at fileSizeBytes', async () => {
      await using box = await ctx.create({ limits: { fileSizeBytes: MiB } });
      const result = await box.exec('head -c 4194304 /dev/zero > /workspace/big; echo "status $?"');
      const status = Number(/status (\d+)/.exec(result.stdout.toString())?.[1]);
      expect(status).not.toBe(0); // killed by SIGXFSZ (128+25) or failed with EFBIG
      expect((await box.stat('/workspace/big')).size).toBe(MiB);
    });

    test('tmpBytes and workspaceBytes bound the writable filesystems', async () => {
      await using box = await ctx.create({ limits: { tmpBytes: MiB, workspaceBytes: MiB } });
      const result = await box.exec(
        'for d in /tmp /workspace; do head -c 4194304 /dev/zero 2>&1 >$d/fill; echo "$d status $?"; done',
      );
      const out = result.stdout.toString();
      expect(out).toMatch(/No space left on device/);
      expect(out).toMatch(/\/tmp status [1-9]/);
      expect(out).toMatch(/\/workspace status [1-9]/);
      expect((await box.stat('/tmp/fill')).size).toBeLessThanOrEqual(MiB);
      expect((await box.stat('/workspace/fill')).size).toBeLessThanOrEqual(MiB);
    });

    test('rlimits are set as asked (open files, processes, file size, core)', async () => {
      await using box = await ctx.create({
        limits: { openFiles: 256, processes: 300, fileSizeBytes: 5 * MiB },
      });
      // runsc 20221219 has no /proc/<pid>/limits: under gVisor they are read with getrlimit.
      const read =
        ctx.driver === 'gvisor'
          ? [
              'python3',
              '-c',
              "import resource as r\nfor n, k in (('Max open files', r.RLIMIT_NOFILE), ('Max processes', r.RLIMIT_NPROC), ('Max file size', r.RLIMIT_FSIZE), ('Max core file size', r.RLIMIT_CORE)): print(n, *r.getrlimit(k))",
            ]
          : ['cat', '/proc/self/limits'];
      const limits = (await box.exec(read)).stdout.toString();
      const limit = (name: string): string[] =>
        new RegExp(`^${name}\\s+(\\S+)\\s+(\\S+)`, 'm').exec(limits)?.slice(1) ?? [];
      expect(limit('Max open files')).toEqual(['256', '256']);
      expect(limit('Max processes')).toEqual(['300', '300']);
      expect(limit('Max file size')).toEqual([String(5 * MiB), String(5 * MiB)]);
      expect(limit('Max core file size')).toEqual(['0', '0']);
    });
  });
}
