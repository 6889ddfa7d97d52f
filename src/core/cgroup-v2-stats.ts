/** What a box uses against its limits, as a cgroup counts it (the host's or a VM guest's). */
export interface BoxStats {
  memoryBytes: number;
  /** undefined: no memory limit. */
  memoryLimitBytes: number | undefined;
  pids: number;
  pidsLimit: number | undefined;
  /** CPU time used, in seconds. */
  cpuSeconds: number;
}

/** The text of a cgroup v2 directory's files, '' for one that could not be read. */
export interface CgroupV2Files {
  memoryCurrent: string;
  memoryMax: string;
  pidsCurrent: string;
  pidsMax: string;
  cpuStat: string;
}

/** Files of a cgroup v2 directory that `cgroupV2Numbers` reads, in the order of CgroupV2Files. */
export const CGROUP_V2_FILES = [
  'memory.current',
  'memory.max',
  'pids.current',
  'pids.max',
  'cpu.stat',
] as const;

/**
 * A cgroup v2 directory's use and limits. Kept pure, so the host (a bwrap or gVisor box's cgroup)
 * and a VM's guest agent (its kernel's box cgroup) read the same numbers the same way.
 */
export function cgroupV2Numbers(files: CgroupV2Files): BoxStats {
  const usage = /^usage_usec (\d+)$/m.exec(files.cpuStat)?.[1];
  return {
    memoryBytes: Number(files.memoryCurrent.trim() || 0),
    memoryLimitBytes: cgroupLimit(files.memoryMax),
    pids: Number(files.pidsCurrent.trim() || 0),
    pidsLimit: cgroupLimit(files.pidsMax),
    cpuSeconds: Number(usage ?? 0) / 1e6,
  };
}

/** A limit file's value: undefined for "max" (none) or an unreadable file. */
export function cgroupLimit(text: string | undefined): number | undefined {
  const value = text?.trim();
  return value === undefined || value === '' || value === 'max' ? undefined : Number(value);
}
