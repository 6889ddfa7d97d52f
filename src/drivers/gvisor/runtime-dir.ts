import { lchown, mkdtemp, readdir, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { markOwner, OWNER_FILE, sweepDeadOwners } from '../../host/dir-owner.js';
import { defaultStateDir, ensureStateDir, rootSharedDir } from '../../host/state-dir.js';

/**
 * One box's private runtime directory (0700): the OCI bundle with its root skeleton, runsc's
 * --root state, runsc's log and the sandbox pid file. Removing it removes every file of the box.
 * runsc reaches it by its path as whoever it runs as: unprivileged, the caller, and the
 * directory is under the state directory; as root, the box's own host uid, and the directory
 * is under `<state dir>-gvisor` (root's, mode 0711: enterable, not listable), handed to that
 * uid once the bundle is written (handOver).
 */
export interface BoxRuntimeDir {
  readonly dir: string;
  /** Unique on the host: runsc names the sandbox's control socket after it. */
  readonly containerId: string;
  readonly bundle: string;
  readonly rootfs: string;
  readonly runscRoot: string;
  readonly log: string;
  readonly pidFile: string;
  remove(): Promise<void>;
}

/** Where gVisor boxes' runtime directories live when runsc runs as this process's uid. */
function runtimeBase(): string {
  return join(defaultStateDir(), 'gvisor');
}

/** Where they live when runsc runs as a box uid of its own (as root). */
function boxUidBase(): string {
  return `${defaultStateDir()}-gvisor`;
}

/**
 * Makes the runtime directory of box `id`, recording this process as its owner (see
 * sweepRuntimeDirs): for a runsc run as `boxUid` (as root) in `<state dir>-gvisor`, otherwise
 * in `<state dir>/gvisor`.
 */
export async function makeRuntimeDir(id: string, boxUid?: number): Promise<BoxRuntimeDir> {
  const base =
    boxUid === undefined ? await ownBase() : await rootSharedDir(boxUidBase(), 'gVisor boxes');
  const dir = await mkdtemp(join(base, `${id}-`));
  await markOwner(dir);
  const bundle = join(dir, 'bundle');
  return {
    dir,
    containerId: basename(dir),
    bundle,
    rootfs: join(bundle, 'rootfs'),
    runscRoot: join(dir, 'runsc'),
    log: join(dir, 'runsc.log'),
    pidFile: join(dir, 'sandbox.pid'),
    remove: () => rm(dir, { recursive: true, force: true, maxRetries: 3 }),
  };
}

/**
 * Removes the runtime directories left by owners that died without removing them (a process
 * killed with SIGKILL: its box died with it, runsc having run under its parent-death signal).
 */
export async function sweepRuntimeDirs(): Promise<number> {
  const [own, shared] = await Promise.all([
    sweepDeadOwners(runtimeBase()),
    process.getuid?.() === 0 ? sweepDeadOwners(boxUidBase()) : [],
  ]);
  return own.length + shared.length;
}

/**
 * Gives the runtime directory, bundle and all, to the box's uid, which runsc then runs as:
 * runsc writes its state, log and pid file there and its gofer serves the root skeleton from it.
 * The owner file stays root's (the sweep trusts what it says only as far as a box could lie
 * about its own directory anyway).
 */
export async function handOver(runtime: BoxRuntimeDir, uid: number): Promise<void> {
  const paths = (await readdir(runtime.dir, { recursive: true })).filter(
    (path) => path !== OWNER_FILE,
  );
  await Promise.all(
    [runtime.dir, ...paths.map((path) => join(runtime.dir, path))].map((path) =>
      lchown(path, uid, uid),
    ),
  );
}

async function ownBase(): Promise<string> {
  await ensureStateDir(defaultStateDir());
  return ensureStateDir(runtimeBase());
}
