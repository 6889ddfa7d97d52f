import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, resolveLimits } from './limits.js';

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
