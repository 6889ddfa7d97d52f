import { mkdtemp, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
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

/** Makes the runtime directory of box `id` under `<state dir>/gvisor`. */
export async function makeRuntimeDir(id: string): Promise<BoxRuntimeDir> {
  const base = join(await ensureStateDir(defaultStateDir()), 'gvisor');
  await ensureStateDir(base);
  const dir = await mkdtemp(join(base, `${id}-`));
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
