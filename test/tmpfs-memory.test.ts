import { describe, expect, test } from 'vitest';
import { createSandbox } from '../src/index.js';
import { runscBinary } from '../src/drivers/gvisor/platform.js';
import { probeCgroups } from './support/cgroup-probe.js';

/**
 * A box's tmpfs pages are charged to its memory limit: with tmpfs sized regardless of the limit,
 * a workload that fills /tmp, /dev/shm and /workspace drove the box into its limit and the
 * OOM killer took the guest agent (the caller saw only CHANNEL_CLOSED). With a memory limit the
 * tmpfs mounts are sized to fit in it beside the workload: filling them fails with ENOSPC, and
 * the agent answers after.
 */
const MiB = 1024 ** 2;
const cgroups = await probeCgroups();
const runsc = await runscBinary().then(
  () => undefined,
  (error: Error) => error.message,
);
const drivers = [
  { driver: 'bwrap' as const, missing: cgroups.available ? undefined : cgroups.reason },
  {
    driver: 'gvisor' as const,
    missing: runsc ?? (cgroups.available ? undefined : cgroups.reason),
  },
];

describe.each(drivers)('tmpfs in a memory-limited $driver box', ({ driver, missing }) => {
  test.skipIf(missing !== undefined)(
    `filling every tmpfs fails with ENOSPC and the box stays usable${missing ? ` [skipped: ${missing}]` : ''}`,
    async () => {
      await using box = await createSandbox({ driver, limits: { memoryBytes: 384 * MiB } });
      const fill = await box.exec(
        'for d in /tmp /dev/shm /workspace; do head -c 1073741824 /dev/zero 2>&1 >$d/fill; echo "$d status $?"; done',
        { timeoutMs: 60_000 },
      );
      const out = fill.stdout.toString();
      expect(out).toMatch(/\/tmp status [1-9]/);
      expect(out).toMatch(/\/dev\/shm status [1-9]/);
      expect(out).toMatch(/\/workspace status [1-9]/);
      expect(out).toMatch(/No space left on device/);
      const alive = await box.exec(['echo', 'alive']);
      expect(alive.stdout.toString()).toBe('alive\n');
    },
    90_000,
  );
});
