import type { Limits } from '../../core/limits.js';
import { WORKSPACE } from '../../core/sandbox-path.js';
import { BOX_HOSTNAME, BOX_UID } from '../../host/box-env.js';
import type { HostLayout } from '../../host/host-layout.js';
import type { OciSeccomp } from './oci-seccomp.js';

/*
 * The subset of the OCI runtime spec (1.0.2) that a gVisor box uses, typed so that the bundle's
 * config.json is produced by JSON.stringify of a checked structure, never assembled as text.
 */

export interface OciSpec {
  ociVersion: '1.0.2';
  process: OciProcess;
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: OciMount[];
  /** runsc flags set by the bundle (only flags runsc lets a bundle set, and only to enable). */
  annotations?: { [OCI_SECCOMP_FLAG]: 'true' };
  linux: {
    namespaces: { type: 'pid' | 'network' | 'ipc' | 'uts' | 'mount' }[];
    seccomp?: OciSeccomp;
  };
}

/**
 * The annotation that turns on runsc's --oci-seccomp for this bundle. runsc allows a bundle to
 * set it without --allow-flag-override, and only to true; a runsc that does not know it refuses
 * the bundle (so a filter is never silently ignored).
 */
const OCI_SECCOMP_FLAG = 'dev.gvisor.flag.oci-seccomp';

export interface OciProcess {
  terminal: false;
  user: { uid: number; gid: number };
  args: string[];
  env: string[];
  cwd: string;
  capabilities: Record<'bounding' | 'effective' | 'inheritable' | 'permitted' | 'ambient', []>;
  rlimits: OciRlimit[];
  noNewPrivileges: true;
}

export interface OciRlimit {
  type: 'RLIMIT_NOFILE' | 'RLIMIT_NPROC' | 'RLIMIT_FSIZE' | 'RLIMIT_CORE';
  hard: number;
  soft: number;
}

export type OciMount =
  | { destination: string; type: 'proc'; source: 'proc'; options: string[] }
  | { destination: string; type: 'tmpfs'; source: 'tmpfs'; options: string[] }
  | { destination: string; type: 'bind'; source: string; options: string[] };

/** A host path bound read-only at the same path in the box. */
export interface ReadOnlyBind {
  path: string;
  /** The mount point the root filesystem must hold for it. */
  kind: 'file' | 'directory';
}

export interface OciSpecOptions {
  layout: HostLayout;
  limits: Limits;
  /** Host paths bound read-only (/usr, the /etc entries a userland needs, node). */
  binds: readonly ReadOnlyBind[];
  args: readonly string[];
  env: Readonly<Record<string, string>>;
  /** The syscall filter the sentry applies to every box process; none when undefined. */
  seccomp?: OciSeccomp | undefined;
}

/*
 * Mount options are only those runsc 20221219 acts on: it ignores nosuid, nodev and noexec
 * (logging a warning for each), and setuid bits are moot under noNewPrivileges anyway.
 */

/** Size of /dev/shm: like bwrap's, at most 64 MiB and never more than /tmp. */
const SHM_MAX_BYTES = 64 * 1024 ** 2;

/**
 * The box as an OCI spec: a read-only root (the bundle's skeleton directory) with host /usr and
 * a few /etc entries bound read-only, size-limited tmpfs at /tmp, /dev/shm and /workspace, its
 * own /proc, uid 1000 without capabilities or new privileges, and rlimits that the gVisor kernel
 * enforces, and with `seccomp` our syscall policy, enforced by the sentry. The network is chosen
 * on runsc's command line (--network=none).
 */
export function ociSpec(options: OciSpecOptions): OciSpec {
  const { limits } = options;
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: BOX_UID, gid: BOX_UID },
      args: [...options.args],
      env: Object.entries(options.env).map(([name, value]) => `${name}=${value}`),
      cwd: WORKSPACE,
      capabilities: { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] },
      rlimits: boxRlimits(limits),
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: BOX_HOSTNAME,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: [] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['mode=0755'] },
      tmpfs('/dev/shm', Math.min(limits.tmpBytes, SHM_MAX_BYTES), ['mode=1777']),
      ...options.binds.map((bind): OciMount => ({
        destination: bind.path,
        type: 'bind',
        source: bind.path,
        options: ['bind', 'ro'],
      })),
      tmpfs('/tmp', limits.tmpBytes, ['mode=1777']),
      tmpfs(WORKSPACE, limits.workspaceBytes, ['mode=0755', `uid=${BOX_UID}`, `gid=${BOX_UID}`]),
    ],
    ...(options.seccomp === undefined ? {} : { annotations: { [OCI_SECCOMP_FLAG]: 'true' } }),
    linux: {
      namespaces: [
        { type: 'pid' },
        { type: 'network' },
        { type: 'ipc' },
        { type: 'uts' },
        { type: 'mount' },
      ],
      ...(options.seccomp === undefined ? {} : { seccomp: options.seccomp }),
    },
  };
}

/**
 * The box's rlimits. gVisor counts RLIMIT_NPROC over every task (threads too) of uid 1000 in
 * its own kernel, and every box process runs as uid 1000: it is a task limit for the whole box.
 * It therefore carries the pids limit as well, the smaller of the two (see gvisor-isolation.ts for why
 * a host pids cgroup cannot do that job under gVisor).
 */
export function boxRlimits(limits: Limits): OciRlimit[] {
  const rlimit = (type: OciRlimit['type'], value: number): OciRlimit => ({
    type,
    hard: value,
    soft: value,
  });
  return [
    rlimit('RLIMIT_NOFILE', limits.openFiles),
    rlimit('RLIMIT_NPROC', Math.min(limits.processes, limits.pids)),
    rlimit('RLIMIT_FSIZE', limits.fileSizeBytes),
    rlimit('RLIMIT_CORE', 0),
  ];
}

function tmpfs(destination: string, sizeBytes: number, extra: readonly string[]): OciMount {
  return {
    destination,
    type: 'tmpfs',
    source: 'tmpfs',
    options: [`size=${sizeBytes}`, ...extra],
  };
}

/** The host paths a box binds read-only, given what the host has (see host-layout.ts). */
export function readOnlyBinds(
  layout: HostLayout,
  etcKinds: ReadonlyMap<string, ReadOnlyBind['kind']>,
): ReadOnlyBind[] {
  const binds: ReadOnlyBind[] = [{ path: '/usr', kind: 'directory' }];
  for (const dir of layout.rootDirs) binds.push({ path: dir, kind: 'directory' });
  for (const path of layout.etcBinds) {
    const kind = etcKinds.get(path);
    if (kind) binds.push({ path, kind });
  }
  // node under /usr is already there; elsewhere (/opt, /usr/local is under /usr) it is bound.
  if (!layout.nodePath.startsWith('/usr/')) binds.push({ path: layout.nodePath, kind: 'file' });
  return binds;
}
