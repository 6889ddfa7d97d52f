import type { ChildProcess } from 'node:child_process';
import type { Duplex, Readable, Writable } from 'node:stream';
import { IronClawError } from '../core/errors.js';
import type { IsolationReport } from '../core/isolation.js';
import type { Limits } from '../core/limits.js';
import type { CgroupBackend } from './cgroups.js';
import type { PortFloorWindow } from './port-floor.js';
import type { BoxStats } from '../core/cgroup-v2-stats.js';
import type { SeccompChoice } from './seccomp-filter.js';
import type { WorkspaceScan } from './workspace-scan.js';

/*
 * What every driver gives the layers above: a started box, the duplex stream to its guest agent
 * (or its command's stdio), and a destroy that leaves nothing behind. Drivers differ only in how
 * they build the box (DESIGN.md: "start a box, give me a byte stream").
 */

/** Host uid (nobody) a box runs as when IronClaw runs as root, unless the caller names another. */
export const DEFAULT_ROOT_BOX_UID = 65534;

/** What runs as the box's payload: the guest agent, or one command with the caller's stdio. */
export type BoxPayload =
  | { kind: 'agent' }
  | {
      kind: 'command';
      argv: readonly string[];
      /** inherit: this process's stdio, live; pipe: stdout and stderr captured (stdin inherited). */
      stdio: 'inherit' | 'pipe';
      /**
       * A host directory, scanned with the workspace rules (exclusions, caps), copied into
       * /workspace before the command starts: the same files a long-lived sandbox gets.
       */
      workspace?: WorkspaceScan;
      /**
       * pipe: stdin is a pipe the host writes (BoxProcess.input) instead of this process's
       * stdin; only for drivers with the `pipedStdin` capability.
       */
      stdin?: 'pipe';
    };

/** A host path bound into the box; read-only unless the caller asks for writes. */
export interface BoxMount {
  host: string;
  /** Absolute, normalised path inside the box. */
  guest: string;
  readOnly: boolean;
}

export interface SpawnBoxOptions {
  id: string;
  /** Limits asked for; the rest come from the defaults. Memory and pids asked for need cgroups. */
  limits: Partial<Limits>;
  payload: BoxPayload;
  cgroups: CgroupBackend;
  /** Host uid and gid to run the box as when IronClaw itself runs as root. */
  rootBoxUid: number;
  /** The syscall filter: the default sandbox policy unless the caller turns it off, explicitly. */
  seccomp?: SeccompChoice;
  /** Host paths bound into the box (bwrap only; other drivers refuse them). */
  mounts?: readonly BoxMount[];
  /** Variables added to the box's environment (on top of its fixed, host-free one). */
  env?: Readonly<Record<string, string>>;
  /** VM drivers: restore a clone of a template (the default) or boot the VM cold. */
  template?: boolean;
  /**
   * The host's egress proxy socket, for a driver whose egress path is 'socket': it binds it at
   * EGRESS_SOCKET_IN_BOX (core/egress-env.ts) and lets the box connect to it, and only to it.
   */
  egressSocket?: string | undefined;
  /**
   * How long the box may take to come up, for a driver that waits on its own start (gVisor):
   * the caller's `startTimeoutMs`, else the driver's capability.
   */
  startTimeoutMs?: number | undefined;
}

export interface BoxProcess {
  readonly id: string;
  /** The process on the host that holds the box (bwrap, runsc, the VMM). */
  readonly process: ChildProcess;
  /** Host pid of the box's first process (its pid 1). */
  readonly boxPid: number;
  readonly isolation: IsolationReport;
  /** The agent's end of the framed channel (agent payload). */
  readonly agent: Duplex | undefined;
  /**
   * A command payload's captured stdout and stderr (stdio 'pipe'). The driver attaches these at
   * spawn: node drops what an unread child pipe holds when the child exits, so a reader that
   * attached later could lose a fast command's output.
   */
  readonly output?: { stdout: Readable; stderr: Readable } | undefined;
  /** The command payload's stdin, when it asked for a pipe (payload `stdin: 'pipe'`). */
  readonly input?: Writable | undefined;
  /** Fires when the payload has started (command payload: the shim wrote its mark). */
  readonly started: Promise<boolean>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderrTail(): string;
  /**
   * How many of the box's processes the OOM killer of its host memory cgroup has killed, for
   * drivers whose box processes run on the host kernel under a cgroup with a memory limit.
   */
  oomKills?(): Promise<number>;
  /** Memory, pids and CPU used against the limits, for a box whose processes have a host cgroup. */
  stats?(): Promise<BoxStats>;
  /** The memory limit the box runs under, when it has one. */
  readonly memoryLimitBytes?: number | undefined;
  /**
   * Lets the box's unprivileged processes bind ports from `port` up in the box's own network
   * namespace until the window is closed (the DNS stub's port 53), for drivers whose box
   * network namespace the host can enter (bwrap) or whose guest has a root helper the host
   * can ask (QEMU's restore helper).
   */
  lowerPortFloor?(port: number, signal: AbortSignal): Promise<PortFloorWindow>;
  /** Kills every process of the box and removes its cgroup. Idempotent. */
  destroy(): Promise<void>;
}

/**
 * For VM drivers, whose box payload is always the guest agent: a one-shot command reaches them
 * through a sandbox and an exec (runOnce does that), never as a payload of its own.
 */
export function requireAgentPayload(options: SpawnBoxOptions, driver: string): void {
  if (options.payload.kind !== 'agent') {
    throw new IronClawError(
      'DRIVER_UNAVAILABLE',
      `the ${driver} driver runs the guest agent only; a one-shot command goes through a sandbox and an exec`,
    );
  }
}
