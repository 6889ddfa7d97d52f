import type { Limits } from '../../core/limits.js';
import type { BoxMount } from '../../host/box-process.js';
import { WORKSPACE } from '../../core/sandbox-path.js';
import { BOX_HOSTNAME, BOX_UID, AGENT_PATH } from '../../host/box-env.js';
import { type HostLayout, NAMESPACE_ARGS, usrRootArgs } from '../../host/host-layout.js';

/** Files the box gets as copies through file descriptors: no host path of ours is exposed. */
export interface BoxDataFds {
  /** fd of each synthetic /etc file, by name (passwd, group, hosts, ...). */
  etc: Record<string, number>;
  /** fd of the guest agent bundle, when the box runs the agent. */
  agent?: number;
}

export interface BwrapArgsOptions {
  layout: HostLayout;
  limits: Limits;
  data: BoxDataFds;
  env: Readonly<Record<string, string>>;
  /** Host paths bound into the box, already checked (checkBoxMounts). */
  mounts?: readonly BoxMount[] | undefined;
  /** Program and arguments run as the box's payload. */
  command: readonly string[];
  /** fd bwrap waits on before running the payload (while we attach the cgroup). */
  blockFd?: number | undefined;
  /** fd bwrap writes {"child-pid": N} to. */
  infoFd?: number | undefined;
  /** fd of a compiled seccomp filter. */
  seccompFd?: number | undefined;
}

/**
 * The bwrap command line of one box. Every namespace is required, never "-try": a layer that
 * cannot be had makes bwrap fail, and the box does not start (fail closed).
 */
export function bwrapArgs(options: BwrapArgsOptions): string[] {
  const { layout, limits, data } = options;
  const args = [
    ...NAMESPACE_ARGS,
    '--uid',
    String(BOX_UID),
    '--gid',
    String(BOX_UID),
    '--hostname',
    BOX_HOSTNAME,
    '--die-with-parent',
    '--new-session',
    '--clearenv',
    ...usrRootArgs(layout),
  ];
  for (const path of layout.etcBinds) args.push('--ro-bind-try', path, path);
  for (const [name, fd] of Object.entries(data.etc))
    args.push('--ro-bind-data', String(fd), `/etc/${name}`);
  args.push('--ro-bind', layout.nodePath, layout.nodePath);
  if (data.agent !== undefined) args.push('--ro-bind-data', String(data.agent), AGENT_PATH);
  args.push(
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    '--size',
    String(limits.tmpBytes),
    '--perms',
    '1777',
    '--tmpfs',
    '/tmp',
    '--size',
    String(Math.min(limits.tmpBytes, 64 * 1024 ** 2)),
    '--perms',
    '1777',
    '--tmpfs',
    '/dev/shm',
    '--size',
    String(limits.workspaceBytes),
    '--perms',
    '0755',
    '--tmpfs',
    WORKSPACE,
    '--chdir',
    WORKSPACE,
  );
  // After the tmpfs mounts, so a mount under /tmp or /workspace lands on top of them; before the
  // remount, which touches / only: a read-write mount stays writable, a read-only one is bound so.
  for (const mount of options.mounts ?? [])
    args.push(mount.readOnly ? '--ro-bind' : '--bind', mount.host, mount.guest);
  args.push(
    // Everything else of the root stays read-only: only /tmp, /dev/shm and /workspace take writes.
    '--remount-ro',
    '/',
  );
  for (const [name, value] of Object.entries(options.env)) args.push('--setenv', name, value);
  if (options.infoFd !== undefined) args.push('--info-fd', String(options.infoFd));
  if (options.blockFd !== undefined) args.push('--block-fd', String(options.blockFd));
  if (options.seccompFd !== undefined) args.push('--seccomp', String(options.seccompFd));
  args.push('--', ...options.command);
  return args;
}

/** prlimit options that bound the box's processes; they are inherited by all of them. */
export function prlimitArgs(limits: Limits): string[] {
  return [
    `--nofile=${limits.openFiles}`,
    `--nproc=${limits.processes}`,
    `--fsize=${limits.fileSizeBytes}`,
    '--core=0',
  ];
}
