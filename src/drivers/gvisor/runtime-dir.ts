import { mkdtemp, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { markOwner, sweepDeadOwners } from '../../host/dir-owner.js';
import { defaultStateDir, ensureStateDir } from '../../host/state-dir.js';

/**
 * One box's private runtime directory (0700, under the state directory): the OCI bundle with
 * its root skeleton, runsc's --root state, runsc's log and the sandbox pid file. Removing it
 * removes every file of the box.
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

/** Where gVisor boxes' runtime directories live. */
function runtimeBase(): string {
  return join(defaultStateDir(), 'gvisor');
}

/**
 * Makes the runtime directory of box `id` under `<state dir>/gvisor`, recording this process as
 * its owner (see sweepRuntimeDirs).
 */
export async function makeRuntimeDir(id: string): Promise<BoxRuntimeDir> {
  await ensureStateDir(defaultStateDir());
  const base = await ensureStateDir(runtimeBase());
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
  return (await sweepDeadOwners(runtimeBase())).length;
}
