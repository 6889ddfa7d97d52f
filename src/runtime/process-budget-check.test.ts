import { describe, expect, it } from 'vitest';
import type { CgroupBackend } from '../host/cgroups.js';
import { processBudgetCheck } from './process-budget-check.js';

const none = { available: false, reason: 'no delegated cgroup' } as CgroupBackend;
const some = { available: true, describe: 'cgroup v2' } as unknown as CgroupBackend;

describe('processBudgetCheck', () => {
  it('as root by default: each box its own uid from the default range', () => {
    const check = processBudgetCheck(undefined, some, 0);
    expect(check.ok).toBe(true);
    expect(check.detail).toContain('from 1879048192..1879113727');
  });

  it('as root with a range of its own', () => {
    const check = processBudgetCheck({ first: 0x70000000, count: 16 }, some, 0);
    expect(check.ok).toBe(true);
    expect(check.detail).toContain('from 1879048192..1879048207');
  });

  it('as root with boxUids false: one shared budget, and the key that fixes it', () => {
    const check = processBudgetCheck(false, some, 0);
    expect(check).toMatchObject({ ok: false, optional: true });
    expect(check.detail).toContain('share one RLIMIT_NPROC budget');
    expect(check.fix).toContain('"boxUids": false');
  });

  it('unprivileged: says that the uid is shared and what holds instead', () => {
    expect(processBudgetCheck(undefined, some, 1000)).toMatchObject({ ok: true });
    expect(processBudgetCheck(undefined, some, 1000).detail).toContain(
      'the pids cgroup of each box',
    );
    const bare = processBudgetCheck(undefined, none, 1000);
    expect(bare).toMatchObject({ ok: false, optional: true });
    expect(bare.detail).toContain('no delegated cgroup');
  });
});
