import { constants, open, readdir, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ownerAlive, ownerText } from './process-identity.js';

/*
 * Runtime directories (a gVisor box's bundle, a VM's sockets and RAM file) belong to the process
 * that made them, and only that process removes them. One killed with SIGKILL never does: the
 * directory records its owner (pid and start time, which together name one process for the
 * life of the host), and a later sweep removes the directories whose owner is gone.
 */

/** The file in each runtime directory that names its owner. */
export const OWNER_FILE = 'owner';

/** The largest owner file read: "<pid> <start>\n" is some 30 bytes. */
const OWNER_MAX_BYTES = 64;

/** An ownerless directory this old and empty was left between its mkdtemp and its owner file. */
const ORPHAN_AFTER_MS = 60_000;

/** Records this process as the owner of `dir`, a directory it has just made. */
export async function markOwner(dir: string): Promise<void> {
  await writeFile(join(dir, OWNER_FILE), await ownerText(), { mode: 0o644, flag: 'wx' });
}

/**
 * Removes the directories under `base` whose owner is no longer running, and those left without
 * an owner file that are empty and older than a minute; a directory of a live owner, or one made
 * a moment ago, is never touched. Returns the paths removed. The owner file is read with
 * O_NOFOLLOW and a size cap: a VMM may own the directory it lives in.
 */
export async function sweepDeadOwners(base: string): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(base).catch(() => [] as string[])) {
    const dir = join(base, name);
    const owner = await readOwner(dir);
    if (owner === undefined) {
      if (await isOldEmptyDir(dir)) {
        if (
          await rmdir(dir).then(
            () => true,
            () => false,
          )
        )
          removed.push(dir);
      }
      continue;
    }
    if (await ownerAlive(owner)) continue;
    await rm(dir, { recursive: true, force: true, maxRetries: 3 }).then(
      () => removed.push(dir),
      () => undefined,
    );
  }
  return removed;
}

async function readOwner(dir: string): Promise<string | undefined> {
  const handle = await open(join(dir, OWNER_FILE), constants.O_RDONLY | constants.O_NOFOLLOW).catch(
    () => undefined,
  );
  if (!handle) return undefined;
  try {
    const buffer = Buffer.alloc(OWNER_MAX_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, OWNER_MAX_BYTES, 0);
    return buffer.toString('utf8', 0, bytesRead);
  } finally {
    await handle.close();
  }
}

async function isOldEmptyDir(dir: string): Promise<boolean> {
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory() || Date.now() - info.mtimeMs < ORPHAN_AFTER_MS) return false;
  return (await readdir(dir).catch(() => ['?'])).length === 0;
}
