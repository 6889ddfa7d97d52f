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
  const limits = { ...DEFAULT_LIMITS };
  for (const [key, value] of Object.entries(partial) as [keyof Limits, number | undefined][]) {
    if (value !== undefined) limits[key] = value;
  }
  return limits;
}
