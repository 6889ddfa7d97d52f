import type { BoxUids } from '../core/box-uids.js';
import type { DriverName, IsolationReport } from '../core/isolation.js';
import type { Limits } from '../core/limits.js';
import type { BoxMount } from '../host/box-process.js';
import type { SeccompChoice } from '../host/seccomp-filter.js';
import type { Tty } from '../protocol/guest-api.js';
import type { WindowSize } from '../protocol/window-size.js';

export interface RunOnceOptions {
  driver?: DriverName;
  limits?: Partial<Limits>;
  /** Wall-clock limit for the whole run; on expiry every process of the box is killed. */
  timeoutMs?: number;
  /** inherit: the command uses this process's stdin/stdout/stderr, live. pipe: captured. */
  stdio: 'inherit' | 'pipe';
  /**
   * pipe: most bytes of stdout+stderr kept (default 8 MiB); the rest is read, dropped and counted
   * (`truncated`, `droppedBytes`), behind a marker in the stream that hit the cap.
   */
  maxOutputBytes?: number;
  /** A host directory copied into /workspace before the command runs (never written back). */
  workspace?: string;
  /** Network egress rules (see SandboxOptions.allowNet); the run then goes through a sandbox. */
  allowNet?: readonly string[];
  /** Variables for the command, over the box's fixed environment. */
  env?: Readonly<Record<string, string>>;
  /** The command's directory in the box (default /workspace). */
  cwd?: string;
  /** Host paths bound into the box; a read-write one is recorded in the audit log. */
  mounts?: readonly BoxMount[];
  /** As root: the shared uid with `boxUids: false` (see SandboxOptions.rootBoxUid). */
  rootBoxUid?: number;
  /** As root: per-box host uids from this range (the default) or false (see SandboxOptions). */
  boxUids?: BoxUids;
  /** 'none' turns the syscall filter off: an explicit weakening, reported in `isolation`. */
  seccomp?: SeccompChoice;
  /**
   * inherit: pass this process's stdin to the command even when it is a terminal (`-i`), which
   * a run through a sandbox otherwise leaves alone. A payload command inherits it anyway.
   */
  interactive?: boolean;
  /**
   * Run the command in a pseudo-terminal made in the box (`-t`), reading this process's stdin
   * (the caller has put its terminal in raw mode); the run then goes through a sandbox.
   */
  tty?: Tty & { resizes?: AsyncIterable<WindowSize> };
  /** Make a cgroup for the run; by default only when memoryBytes or pids is set. */
  cgroup?: boolean;
  signal?: AbortSignal;
}

export interface RunOnceResult {
  /**
   * The command's exit status (128+N when killed by signal N, as shells report it; 124 when
   * its timeout killed it, with `timedOut`).
   */
  exitCode: number;
  /** The signal that ended the command, where known (SIGKILL for a timeout). */
  signal: string | null;
  timedOut: boolean;
  /** The memory limit's OOM killer ended the command. */
  oomKilled: boolean;
  memoryLimitBytes?: number | undefined;
  /** Output past maxOutputBytes was dropped (pipe). */
  truncated: boolean;
  droppedBytes: number;
  durationMs: number;
  isolation: IsolationReport;
  stdout: Buffer;
  stderr: Buffer;
}
