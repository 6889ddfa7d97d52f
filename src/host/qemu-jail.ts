import { type ChildProcess, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { IronClawError } from '../core/errors.js';
import { type HostLayout, NAMESPACE_ARGS, usrRootArgs } from './bwrap-args.js';
import { detectHostLayout } from './host-layout.js';

/**
 * The jail QEMU runs in: bubblewrap, which IronClaw needs anyway, spawned as an unprivileged
 * uid (65534 when IronClaw runs as root, else the caller), so QEMU gets its own user, mount, pid,
 * network, IPC, UTS and cgroup namespaces, no capabilities and no new privileges. Its file
 * system is a fresh root holding only what it needs: /usr read-only (QEMU, its libraries and
 * firmware), the loader's cache, the image files read-only, /dev/kvm when KVM is used, and its
 * own runtime directory (see qemu-runtime-dir.ts for how its uid reaches it).
 *
 * Inside it QEMU also installs its own seccomp filter (`-sandbox on`, see qemu-args.ts), and it
 * runs under the rlimits below. It runs as the jail's pid 1 (`--as-pid-1`: it starts no
 * children, its filter forbids them), so the host pid bwrap reports is QEMU's own.
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

export interface JailedVmm {
  /** prlimit, then bwrap: the host process holding the jail. */
  readonly child: ChildProcess;
  /** QEMU's host pid, as bwrap reports it; rejects if bwrap exits without reporting one. */
  readonly pid: Promise<number>;
}

/**
 * Spawns QEMU in its jail: `prlimit <VMM_RLIMITS> -- bwrap <jailArgs> -- qemu …`, as `uid` (and
 * `gid`) when IronClaw runs as root, stdout and stderr piped (the console and QEMU's stderr).
 */
export async function spawnJailedVmm(options: {
  files: readonly string[];
  runtimeDir: string;
  kvm: boolean;
  command: readonly string[];
  uid: number;
  gid: number;
}): Promise<JailedVmm> {
  const layout = await detectHostLayout();
  const args = jailArgs({
    layout,
    files: options.files,
    runtimeDir: options.runtimeDir,
    kvm: options.kvm,
    infoFd: INFO_FD,
    command: options.command,
  });
  const asRoot = process.getuid?.() === 0;
  const child = spawn('prlimit', [...VMM_RLIMITS, '--', bwrapBinary(), ...args], {
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    detached: true,
    env: {},
    ...(asRoot ? { uid: options.uid, gid: options.gid } : {}),
  });
  const pid = reportedPid(child);
  pid.catch(() => undefined); // a failed start is reported by the exit, with QEMU's stderr
  return { child, pid };
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
