import { expect } from 'vitest';
import { DEFAULT_BOX_UIDS } from '../../src/core/box-uids.js';

const caller = process.getuid?.() ?? -1;

/** What the tests expect of a box's host uid, for a test's name. */
export const BOX_UID_TEXT =
  caller === 0
    ? `a uid of its own from ${DEFAULT_BOX_UIDS.first}..${DEFAULT_BOX_UIDS.first + DEFAULT_BOX_UIDS.count - 1}`
    : `the caller's uid ${caller}`;

/**
 * A box's host uid (its processes, a gVisor sentry, a VM's jailed VMM): as root, a uid of the
 * default box range, so never root, never the caller and never the shared nobody; unprivileged,
 * the caller's own (its user namespace maps nothing else).
 */
export function expectBoxUid(uid: number | undefined): void {
  if (caller !== 0) {
    expect(uid).toBe(caller);
    return;
  }
  expect(uid).not.toBe(0);
  expect(uid).not.toBe(65534);
  expect(uid).toBeGreaterThanOrEqual(DEFAULT_BOX_UIDS.first);
  expect(uid).toBeLessThan(DEFAULT_BOX_UIDS.first + DEFAULT_BOX_UIDS.count);
}
