import type { Check } from './errors.js';
import { formatBytes } from './units.js';

/** Resource limits of one sandbox, resolved (no undefined) from options and defaults. */
export interface Limits {
  /** cgroup memory limit; undefined = no limit requested. */
  memoryBytes: number | undefined;
  /** cgroup pids limit. */
  pids: number;
  /** Size of the tmpfs at /tmp. */
  tmpBytes: number;
  /** Size of the tmpfs at /workspace. */
  workspaceBytes: number;
  /** RLIMIT_NOFILE. */
  openFiles: number;
  /** RLIMIT_NPROC: a backstop against fork bombs where no pids cgroup is available. */
  processes: number;
  /** RLIMIT_FSIZE: the largest file a box may write. */
  fileSizeBytes: number;
}

export const DEFAULT_LIMITS: Limits = {
  memoryBytes: undefined,
  pids: 512,
  tmpBytes: 512 * 1024 ** 2,
  workspaceBytes: 1024 ** 3,
  openFiles: 4096,
  processes: 4096,
  fileSizeBytes: 1024 ** 3,
};

export function resolveLimits(partial: Partial<Limits> = {}): Limits {
  const limits = { ...DEFAULT_LIMITS, ...tmpfsWithin(partial.memoryBytes) };
  for (const [key, value] of Object.entries(partial) as [keyof Limits, number | undefined][]) {
    if (value !== undefined) limits[key] = value;
  }
  return limits;
}

/**
 * Default tmpfs sizes under a memory limit. What a box writes to its tmpfs mounts is memory
 * charged to the box's limit, never reclaimed while the file exists: sized regardless of the
 * limit, a box that filled them met its limit and the OOM killer took the guest agent. So /tmp
 * gets an eighth of the limit and /workspace a quarter (/dev/shm, at most /tmp's size, another
 * eighth at most): filling them all takes half the limit and fails with ENOSPC, leaving the
 * other half to the workload and the agent. Sizes the caller gives are kept as given.
 */
function tmpfsWithin(memoryBytes: number | undefined): Partial<Limits> {
  if (memoryBytes === undefined) return {};
  const page = 4096;
  const part = (fraction: number, most: number): number =>
    Math.max(page, Math.min(most, Math.floor((memoryBytes * fraction) / page) * page));
  return {
    tmpBytes: part(1 / 8, DEFAULT_LIMITS.tmpBytes),
    workspaceBytes: part(1 / 4, DEFAULT_LIMITS.workspaceBytes),
  };
}

/**
 * The least a box needs to start, for one driver and one kind of payload: below it the box dies
 * during start-up (the OOM killer, a fork that fails), so a request under it is refused up
 * front with the number instead. Each driver declares its floors (drivers/<name>/index.ts),
 * measured on a loaded machine and given some room.
 */
export interface LimitFloor {
  memoryBytes: number;
  pids: number;
}

/** PID_MAX_LIMIT: the kernel refuses a larger pids.max, and no box can have more processes. */
export const MAX_PIDS = 4_194_304;

/**
 * Checks the limits a caller asked for against a driver's floor (and the kernel's ceiling),
 * before anything starts. `who` names the box in the message ("a bwrap sandbox").
 */
export function checkLimitFloor(
  limits: Partial<Limits>,
  floor: LimitFloor,
  who: string,
): Check<void> {
  const { memoryBytes, pids } = limits;
  if (memoryBytes !== undefined && memoryBytes < floor.memoryBytes)
    return {
      ok: false,
      code: 'INVALID_ARGUMENT',
      message: `memory limit ${formatBytes(memoryBytes)} is below the ${formatBytes(floor.memoryBytes)} ${who} needs to start; ask for at least ${formatBytes(floor.memoryBytes)}`,
    };
  if (pids !== undefined && pids < floor.pids)
    return {
      ok: false,
      code: 'INVALID_ARGUMENT',
      message: `pids limit ${pids} is below the ${floor.pids} processes and threads ${who} needs to start; ask for at least ${floor.pids}`,
    };
  if (pids !== undefined && pids > MAX_PIDS)
    return {
      ok: false,
      code: 'INVALID_ARGUMENT',
      message: `pids limit ${pids} is above the kernel's most (${MAX_PIDS})`,
    };
  return { ok: true, value: undefined };
}
