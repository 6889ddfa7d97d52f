import { access } from 'node:fs/promises';
import { basename, isAbsolute, join } from 'node:path';
import { IronClawError } from '../../core/errors.js';

/**
 * The jailer's command line (Firecracker's docs/jailer.md; notes/vmm.md §1.7), built from typed
 * options and checked the way the jailer checks it, so a bad value is refused here with its
 * name instead of by the jailer after it has made half a jail. The jailer makes
 * `<chrootBaseDir>/<exec file name>/<id>/root`, copies the binary into it, sets the rlimits and
 * the cgroup values, pivots into the chroot with its own mount namespace, makes /dev/kvm there,
 * drops to uid:gid and execs Firecracker with `--id <id>` and the arguments after `--`.
 */
export interface JailerOptions {
  /** The VM's id: letters, digits and '-', at most 64 (it names the chroot and the cgroup). */
  id: string;
  /** Absolute path of a static Firecracker binary; its file name must contain "firecracker". */
  execFile: string;
  uid: number;
  gid: number;
  /** The host's cgroup hierarchy: the jailer defaults to 1, which is wrong on a v2 host. */
  cgroupVersion: 1 | 2;
  /** `<controller>.<file>` = value, written into the VM's cgroup before Firecracker runs. */
  cgroups?: readonly { file: string; value: string }[];
  /** Relative path of the cgroup the VM's cgroup is made in (default: the exec file's name). */
  parentCgroup?: string;
  /** Absolute; the jailer's default is /srv/jailer. */
  chrootBaseDir: string;
  /** A network namespace to join (a path like /var/run/netns/x). */
  netns?: string;
  /** Clone Firecracker into a new pid namespace (the pid is then in `<chroot>/firecracker.pid`). */
  newPidNs: boolean;
  /** setsid() and stdio to /dev/null. Fails when the jailer leads its process group. */
  daemonize: boolean;
  resourceLimits?: { fsize?: number; noFile?: number };
  /** Firecracker's own arguments (paths in them are inside the chroot). */
  firecrackerArgs: readonly string[];
}

/** The jailer's rule for --id (jailer/src/env.rs validate_instance_id). */
export const JAILER_ID = /^[A-Za-z0-9-]{1,64}$/;
const CGROUP_FILE = /^[a-z_]+\.[a-z0-9_.]+$/;
const CGROUP_PATH = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/;

export function jailerArgs(options: JailerOptions): string[] {
  if (!JAILER_ID.test(options.id))
    throw invalid(`id ${JSON.stringify(options.id)}: use 1-64 letters, digits or '-'`);
  if (!isAbsolute(options.execFile) || !basename(options.execFile).includes('firecracker'))
    throw invalid(
      `exec file ${JSON.stringify(options.execFile)}: an absolute path whose name contains "firecracker"`,
    );
  for (const [name, id] of [
    ['uid', options.uid],
    ['gid', options.gid],
  ] as const) {
    if (!Number.isInteger(id) || id < 0 || id > 0xfffffffe) throw invalid(`${name} ${id}`);
  }
  if (!isAbsolute(options.chrootBaseDir))
    throw invalid(`chroot base ${JSON.stringify(options.chrootBaseDir)}: not absolute`);
  const args = [
    '--id',
    options.id,
    '--exec-file',
    options.execFile,
    '--uid',
    String(options.uid),
    '--gid',
    String(options.gid),
    '--cgroup-version',
    String(options.cgroupVersion),
    '--chroot-base-dir',
    options.chrootBaseDir,
  ];
  if (options.parentCgroup !== undefined) {
    if (!CGROUP_PATH.test(options.parentCgroup) || options.parentCgroup.split('/').includes('..'))
      throw invalid(`parent cgroup ${JSON.stringify(options.parentCgroup)}`);
    args.push('--parent-cgroup', options.parentCgroup);
  }
  for (const { file, value } of options.cgroups ?? []) {
    if (!CGROUP_FILE.test(file) || !/^[\w.:,/ -]+$/.test(value))
      throw invalid(`cgroup setting ${JSON.stringify(`${file}=${value}`)}`);
    args.push('--cgroup', `${file}=${value}`);
  }
  if (options.netns !== undefined) {
    if (!isAbsolute(options.netns)) throw invalid(`netns ${JSON.stringify(options.netns)}`);
    args.push('--netns', options.netns);
  }
  const limits = options.resourceLimits ?? {};
  for (const [name, value] of [
    ['fsize', limits.fsize],
    ['no-file', limits.noFile],
  ] as const) {
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < 0) throw invalid(`resource limit ${name}=${value}`);
    args.push('--resource-limit', `${name}=${value}`);
  }
  if (options.daemonize) args.push('--daemonize');
  if (options.newPidNs) args.push('--new-pid-ns');
  args.push('--', ...options.firecrackerArgs);
  return args;
}

/** Where the jailer puts a VM: `<base>/<exec name>/<id>`, whose `root` is the chroot. */
export function jailDirs(options: Pick<JailerOptions, 'chrootBaseDir' | 'execFile' | 'id'>): {
  jailDir: string;
  chrootDir: string;
} {
  const jailDir = join(options.chrootBaseDir, basename(options.execFile), options.id);
  return { jailDir, chrootDir: join(jailDir, 'root') };
}

/**
 * The cgroup directories the jailer makes for the VM (`<hierarchy>/<parent>/<id>`, one per
 * controller on v1), which are ours to remove after it (the jailer never does).
 */
export function jailCgroupDirs(
  options: Pick<JailerOptions, 'cgroupVersion' | 'cgroups' | 'parentCgroup' | 'execFile' | 'id'>,
  root = '/sys/fs/cgroup',
): string[] {
  // With no values to write the jailer makes no cgroup (v2: it only joins the parent, if any).
  if ((options.cgroups ?? []).length === 0) return [];
  const parent = options.parentCgroup ?? basename(options.execFile);
  if (options.cgroupVersion === 2) return [join(root, parent, options.id)];
  const controllers = new Set((options.cgroups ?? []).map(({ file }) => file.split('.')[0]!));
  return [...controllers].sort().map((controller) => join(root, controller, parent, options.id));
}

/** The host's cgroup hierarchy: v2 when the unified hierarchy is mounted at `root`. */
export async function hostCgroupVersion(root = '/sys/fs/cgroup'): Promise<1 | 2> {
  return access(join(root, 'cgroup.controllers')).then(
    () => 2 as const,
    () => 1 as const,
  );
}

function invalid(message: string): IronClawError {
  return new IronClawError('INVALID_ARGUMENT', `jailer: ${message}`);
}
