import { type BoxUids, DEFAULT_BOX_UIDS } from '../core/box-uids.js';
import { DEFAULT_ROOT_BOX_UID } from './box-process.js';
import { leaseBoxUid, type UidLease } from './uid-lease.js';

export interface BoxUidOptions {
  /** Per-box uids from this range (the default), or false for the shared `rootBoxUid`. */
  boxUids?: BoxUids | undefined;
  /** The one uid every box shares with `boxUids: false` (default 65534, nobody). */
  rootBoxUid?: number | undefined;
  /** Where leases live (tests); DEFAULT_LEASE_DIR otherwise. */
  leaseDir?: string | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * The host uid one box runs as when IronClaw is root: by default a uid of its own, leased from
 * the range for the box's lifetime, so that RLIMIT_NPROC (counted per uid) is its own budget;
 * with `boxUids: false` the shared `rootBoxUid`. Unprivileged, boxes run as the caller and the
 * uid returned here is only what a root run would have used (nothing is leased).
 */
export async function boxUidFor(options: BoxUidOptions = {}): Promise<UidLease> {
  const range = options.boxUids ?? DEFAULT_BOX_UIDS;
  if (range === false || process.getuid?.() !== 0)
    return { uid: options.rootBoxUid ?? DEFAULT_ROOT_BOX_UID, release: () => Promise.resolve() };
  return leaseBoxUid(range, {
    ...(options.leaseDir === undefined ? {} : { dir: options.leaseDir }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
}
