import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, resolveLimits } from './limits.js';

describe('resolveLimits', () => {
  it('gives the defaults when nothing is asked for', () => {
    expect(resolveLimits()).toEqual(DEFAULT_LIMITS);
    expect(resolveLimits({})).toEqual(DEFAULT_LIMITS);
  });

  it('overrides what is given and keeps the defaults for the rest', () => {
    const limits = resolveLimits({ pids: 64, memoryBytes: 256 * 1024 ** 2 });
    expect(limits).toEqual({ ...DEFAULT_LIMITS, pids: 64, memoryBytes: 256 * 1024 ** 2 });
  });

  it('treats an explicit undefined as not given, and never changes the defaults', () => {
    const before = { ...DEFAULT_LIMITS };
    const limits = resolveLimits({ pids: undefined } as unknown as Partial<typeof DEFAULT_LIMITS>);
    expect(limits.pids).toBe(DEFAULT_LIMITS.pids);
    limits.pids = 1;
    expect(DEFAULT_LIMITS).toEqual(before);
  });
});
