import { type ChildProcess, spawn } from 'node:child_process';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { IronClawError } from '../../core/errors.js';
import {
  detectHostLayout,
  type HostLayout,
  NAMESPACE_ARGS,
  usrRootArgs,
} from '../../host/host-layout.js';
import { type SeccompChoice, seccompFilter } from '../../host/seccomp-filter.js';
import { guardBoxStreams } from '../../host/box-streams.js';

/**
 * The jail QEMU runs in: bubblewrap, which IronClaw needs anyway, spawned as an unprivileged
 * uid (the box's own host uid when IronClaw runs as root, else the caller), so QEMU gets its own user, mount, pid,
 * network, IPC, UTS and cgroup namespaces, no capabilities and no new privileges. Its file
 * system is a fresh root holding only what it needs: /usr read-only (QEMU, its libraries and
 * firmware), the loader's cache, the image files read-only, /dev/kvm when KVM is used, and its
 * own runtime directory (see qemu-runtime-dir.ts for how its uid reaches it).
 *
 * QEMU runs under two seccomp filters, stacked: IronClaw's allow-list (policies/seccomp/
 * vmm-qemu.json, derived by tracing QEMU: scripts/trace-vmm.mjs), which bwrap installs as the
 * last step before it execs QEMU, so it covers QEMU from its first instruction; and QEMU's own
 * deny-list (`-sandbox on`, see qemu-args.ts), which QEMU installs during its start-up. The
 * kernel runs both on every call and the stricter verdict wins. It runs under the rlimits
 * below, as the jail's pid 1 (`--as-pid-1`: it starts no children, both filters forbid them),
 * so the host pid bwrap reports is QEMU's own.
 */
export interface JailOptions {
  layout: HostLayout;
  /** Host files QEMU reads (kernel, initramfs, root filesystem), bound read-only. */
  files: readonly string[];
  /** The runtime directory, bound read-write at the same path. */
  runtimeDir: string;
  /** Bind /dev/kvm into the jail. */
  kvm: boolean;
  /** Descriptor bwrap writes {"child-pid": N} to. */
  infoFd: number;
  /** Descriptor of the compiled seccomp program bwrap installs before it execs QEMU. */
  seccompFd?: number | undefined;
  /** QEMU's argv, binary first. */
  command: readonly string[];
}

export function jailArgs(options: JailOptions): string[] {
  const args = [
    ...NAMESPACE_ARGS,
    '--die-with-parent',
    '--new-session',
    '--as-pid-1',
    '--cap-drop',
    'ALL',
    '--clearenv',
    ...usrRootArgs(options.layout),
  ];
  args.push('--ro-bind-try', '/etc/ld.so.cache', '/etc/ld.so.cache');
  args.push('--dev', '/dev');
  if (options.kvm) args.push('--dev-bind', '/dev/kvm', '/dev/kvm');
  args.push('--proc', '/proc');
  for (const file of options.files) args.push('--ro-bind', file, file);
  args.push('--bind', options.runtimeDir, options.runtimeDir);
  args.push('--remount-ro', '/', '--chdir', '/');
  if (options.seccompFd !== undefined) args.push('--seccomp', String(options.seccompFd));
  args.push('--info-fd', String(options.infoFd), '--', ...options.command);
  return args;
}

/**
 * rlimits of the VMM: descriptors enough for its devices and sockets, no core dumps (guest
 * memory would land on the host's disk), no files written (it writes none; its output goes to
 * pipes). No process-count limit: it counts every process of the (shared) unprivileged uid.
 */
export const VMM_RLIMITS = ['--nofile=1024', '--core=0', '--fsize=0'] as const;

/** The bwrap binary: IRONCLAW_BWRAP, or bwrap from PATH (as for bwrap boxes). */
function bwrapBinary(): string {
  return process.env.IRONCLAW_BWRAP ?? 'bwrap';
}

const INFO_FD = 3;
const SECCOMP_FD = 4;

export interface JailedVmm {
  /** prlimit, then bwrap: the host process holding the jail. */
  readonly child: ChildProcess;
  /** QEMU's host pid, as bwrap reports it; rejects if bwrap exits without reporting one. */
  readonly pid: Promise<number>;
  /** IronClaw's filter on the VMM, in words (numbers from the build), or undefined if off. */
  readonly seccomp: string | undefined;
}

/**
 * Spawns QEMU in its jail: `prlimit <VMM_RLIMITS> -- bwrap <jailArgs> -- qemu …`, as `uid` (and
 * `gid`) when IronClaw runs as root, stdout and stderr piped (the console and QEMU's stderr).
 * `seccomp: 'none'` leaves out IronClaw's filter (QEMU's own stays): for diagnosing a VMM that
 * the filter kills, and for tracing which calls it makes.
 */
export async function spawnJailedVmm(options: {
  files: readonly string[];
  runtimeDir: string;
  kvm: boolean;
  command: readonly string[];
  uid: number;
  gid: number;
  seccomp?: SeccompChoice | undefined;
  /** Descriptors QEMU inherits, at these numbers (above the jail's own: info and seccomp). */
  inherit?: readonly { fd: number; at: number }[];
  /**
   * The largest file QEMU may write: none (VMM_RLIMITS) unless a template VM's RAM file must
   * grow to the guest's memory size.
   */
  maxFileBytes?: number;
}): Promise<JailedVmm> {
  const [layout, filter] = await Promise.all([
    detectHostLayout(),
    options.seccomp === 'none' ? undefined : seccompFilter('vmm-qemu'),
  ]);
  const args = jailArgs({
    layout,
    files: options.files,
    runtimeDir: options.runtimeDir,
    kvm: options.kvm,
    infoFd: INFO_FD,
    seccompFd: filter === undefined ? undefined : SECCOMP_FD,
    command: options.command,
  });
  const asRoot = process.getuid?.() === 0;
  const program = filter === undefined ? undefined : await open(filter.path, 'r');
  try {
    const rlimits = VMM_RLIMITS.map((limit) =>
      limit === '--fsize=0' && options.maxFileBytes !== undefined
        ? `--fsize=${options.maxFileBytes}`
        : limit,
    );
    const child = spawn('prlimit', [...rlimits, '--', bwrapBinary(), ...args], {
      stdio: inheritedStdio([
        'ignore',
        'pipe',
        'pipe',
        'pipe',
        program?.fd ?? 'ignore',
        ...(options.inherit ?? []).map(({ fd, at }) => ({ fd, at })),
      ]),
      detached: true,
      env: {},
      ...(asRoot ? { uid: options.uid, gid: options.gid } : {}),
    });
    guardBoxStreams(child);
    const pid = reportedPid(child);
    pid.catch(() => undefined); // a failed start is reported by the exit, with QEMU's stderr
    return { child, pid, seccomp: filter?.summary };
  } finally {
    // The child holds its own copy of the descriptor, which bwrap reads before it execs QEMU.
    await program?.close();
  }
}

type StdioEntry = 'ignore' | 'pipe' | number;

/**
 * A spawn stdio array from the jail's own entries (fds 0-4) followed by descriptors that go to
 * given numbers: the gaps are closed in the child. A number taken twice or one of the jail's
 * own is refused.
 */
function inheritedStdio(
  entries: readonly (StdioEntry | { fd: number; at: number })[],
): StdioEntry[] {
  const stdio: StdioEntry[] = [];
  for (const entry of entries) {
    if (typeof entry !== 'object') {
      stdio.push(entry);
      continue;
    }
    if (entry.at < stdio.length)
      throw new IronClawError('INTERNAL', `descriptor ${entry.at} is taken in the VMM's jail`);
    while (stdio.length < entry.at) stdio.push('ignore');
    stdio.push(entry.fd);
  }
  return stdio;
}

/** bwrap writes {"child-pid": N} to its info descriptor once the jail's pid 1 runs. */
function reportedPid(child: ChildProcess): Promise<number> {
  const info = (child.stdio as readonly unknown[])[INFO_FD] as Readable | null;
  return new Promise((resolve, reject) => {
    if (!info) {
      reject(new IronClawError('INTERNAL', 'no info pipe to bwrap'));
      return;
    }
    let text = '';
    info.setEncoding('utf8');
    info.on('data', (chunk: string) => {
      text += chunk;
      const match = /"child-pid"\s*:\s*(\d+)/.exec(text);
      if (match?.[1]) resolve(Number(match[1]));
    });
    info.once('close', () =>
      reject(new IronClawError('SANDBOX_START_FAILED', 'the VMM jail (bwrap) reported no pid')),
    );
  });
}
