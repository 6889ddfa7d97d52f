import type { BoxUids } from '../core/box-uids.js';
import type { Limits } from '../core/limits.js';
import { boxUidFor } from '../host/box-uid.js';
import { type CgroupBackend, detectCgroups } from '../host/cgroups.js';
import { assertLimitsFit, type Driver, type DriverCapabilities } from '../host/driver.js';
import type { UidLease } from '../host/uid-lease.js';

/**
 * What a box that has a cgroup (a long-lived sandbox, a primed box) is given before its driver
 * starts it: the host's cgroup backend, its limits (the default memory limit added, checked
 * against what the driver needs to start `payload`), and its host uid, leased as root. The
 * caller gives the uid back once every process of the box is gone.
 */
export async function boxBudget(
  driver: Driver,
  payload: 'agent' | 'command',
  options: {
    limits?: Partial<Limits> | undefined;
    defaultMemoryBytes?: number | undefined;
    boxUids?: BoxUids | undefined;
    rootBoxUid?: number | undefined;
    signal?: AbortSignal | undefined;
  },
): Promise<{ cgroups: CgroupBackend; limits: Partial<Limits>; uidLease: UidLease }> {
  const cgroups = await detectCgroups();
  const limits = withDefaultMemory(
    options.limits,
    options.defaultMemoryBytes,
    driver.capabilities,
    cgroups.available,
  );
  assertLimitsFit(driver, limits, payload);
  options.signal?.throwIfAborted();
  const uidLease = await boxUidFor({
    boxUids: options.boxUids,
    rootBoxUid: options.rootBoxUid,
    signal: options.signal,
  });
  return { cgroups, limits, uidLease };
}

/**
 * The limits a box gets: the caller's, with the default memory limit added where none was asked
 * and the host's cgroups can hold it (a driver with a memory of its own, a VM, has one anyway).
 */
export function withDefaultMemory(
  limits: Partial<Limits> | undefined,
  defaultMemoryBytes: number | undefined,
  capabilities: Pick<DriverCapabilities, 'ownMemory'>,
  cgroupsAvailable: boolean,
): Partial<Limits> {
  const chosen = { ...limits };
  if (
    chosen.memoryBytes === undefined &&
    defaultMemoryBytes !== undefined &&
    !capabilities.ownMemory &&
    cgroupsAvailable
  )
    chosen.memoryBytes = defaultMemoryBytes;
  return chosen;
}
