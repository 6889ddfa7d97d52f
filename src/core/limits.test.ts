import { describe, expect, it } from 'vitest';
import { checkLimitFloor, DEFAULT_LIMITS, MAX_PIDS, resolveLimits } from './limits.js';

describe('resolveLimits', () => {
  it('gives the defaults when nothing is asked for', () => {
    expect(resolveLimits()).toEqual(DEFAULT_LIMITS);
    expect(resolveLimits({})).toEqual(DEFAULT_LIMITS);
  });

  it('overrides what is given and keeps the defaults for the rest', () => {
    const limits = resolveLimits({ pids: 64, openFiles: 100 });
    expect(limits).toEqual({ ...DEFAULT_LIMITS, pids: 64, openFiles: 100 });
  });

  it('sizes the tmpfs mounts to fit in a memory limit, unless they are given', () => {
    const MiB = 1024 ** 2;
    expect(resolveLimits({ memoryBytes: 256 * MiB })).toEqual({
      ...DEFAULT_LIMITS,
      memoryBytes: 256 * MiB,
      tmpBytes: 32 * MiB,
      workspaceBytes: 64 * MiB,
    });
    // Large limits keep the defaults; a size the caller gives is kept, whatever the limit.
    expect(resolveLimits({ memoryBytes: 64 * 1024 * MiB })).toMatchObject({
      tmpBytes: DEFAULT_LIMITS.tmpBytes,
      workspaceBytes: DEFAULT_LIMITS.workspaceBytes,
    });
    expect(resolveLimits({ memoryBytes: 256 * MiB, tmpBytes: 200 * MiB })).toMatchObject({
      tmpBytes: 200 * MiB,
      workspaceBytes: 64 * MiB,
    });
    // Whole pages, never zero.
    expect(resolveLimits({ memoryBytes: 1000 })).toMatchObject({
      tmpBytes: 4096,
      workspaceBytes: 4096,
    });
  });

  it('treats an explicit undefined as not given, and never changes the defaults', () => {
    const before = { ...DEFAULT_LIMITS };
    const limits = resolveLimits({ pids: undefined } as unknown as Partial<typeof DEFAULT_LIMITS>);
    expect(limits.pids).toBe(DEFAULT_LIMITS.pids);
    limits.pids = 1;
    expect(DEFAULT_LIMITS).toEqual(before);
  });
});

describe('checkLimitFloor', () => {
  const floor = { memoryBytes: 24 * 1024 ** 2, pids: 16 };

  it('passes limits at or above the floor, and no limits at all', () => {
    expect(checkLimitFloor({}, floor, 'a box').ok).toBe(true);
    expect(checkLimitFloor({ memoryBytes: 24 * 1024 ** 2, pids: 16 }, floor, 'a box').ok).toBe(
      true,
    );
  });

  it('names the limit, the floor and the box when a limit is below it', () => {
    expect(checkLimitFloor({ memoryBytes: 1024 }, floor, 'a bwrap sandbox')).toEqual({
      ok: false,
      code: 'INVALID_ARGUMENT',
      message:
        'memory limit 1 KiB is below the 24 MiB a bwrap sandbox needs to start; ask for at least 24 MiB',
    });
    expect(checkLimitFloor({ pids: 1 }, floor, 'a box')).toMatchObject({
      ok: false,
      message: expect.stringMatching(/^pids limit 1 is below the 16 /) as unknown,
    });
  });

  it("refuses pids past the kernel's ceiling", () => {
    expect(checkLimitFloor({ pids: MAX_PIDS + 1 }, floor, 'a box')).toMatchObject({ ok: false });
    expect(checkLimitFloor({ pids: MAX_PIDS }, floor, 'a box').ok).toBe(true);
  });
});
