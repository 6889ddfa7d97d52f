import { chmod, chown, copyFile, link, mkdir, open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { IronClawError } from '../../core/errors.js';
import { removeCgroup } from '../../host/cgroups.js';

/**
 * What goes into a jailed Firecracker's chroot before it starts (Firecracker's docs/jailer.md,
 * "Observations"): the jailer copies only the binary; the kernel, initramfs and disk images must
 * be hard-linked or copied in by us, readable by the VMM's uid; and removing the jail and its
 * cgroup after the VM is ours too.
 */

export interface ChrootFile {
  /** The file on the host (in the image cache). */
  source: string;
  /** Its name in the chroot's root directory. */
  name: string;
}

export interface Owner {
  uid: number;
  gid: number;
}

/** How each file got in: a hard link (no copy, shared with the cache) or a copy. */
export type Placement = 'linked' | 'copied';

/**
 * Puts `files` into `chrootDir` (made if missing, mode 0700). A hard link when the source is on
 * the same file system and readable by anyone (cached images are 0644 and root's, and must stay
 * so: the link shares the cache's inode, so it is never chowned); otherwise a copy, owned by
 * `owner` and readable by it alone. Read-only use only: the VMM opens these files read-only.
 */
export async function placeInChroot(
  chrootDir: string,
  files: readonly ChrootFile[],
  owner: Owner,
): Promise<Record<string, Placement>> {
  await mkdir(chrootDir, { recursive: true, mode: 0o700 });
  const placed: Record<string, Placement> = {};
  for (const file of files) {
    if (file.name.includes('/') || file.name.startsWith('.'))
      throw new IronClawError(
        'INVALID_ARGUMENT',
        `chroot file name ${JSON.stringify(file.name)} must be a plain name`,
      );
    const target = join(chrootDir, file.name);
    const info = await stat(file.source);
    const worldReadable = (info.mode & 0o004) !== 0;
    if (worldReadable && (await link(file.source, target).then(() => true, isCrossDevice))) {
      placed[file.name] = 'linked';
      continue;
    }
    await copyFile(file.source, target);
    await chown(target, owner.uid, owner.gid);
    await chmod(target, 0o400);
    placed[file.name] = 'copied';
  }
  return placed;
}

/** A new empty file in the chroot that the VMM writes (its log), owned by it, mode 0600. */
export async function createOwnedFile(path: string, owner: Owner): Promise<void> {
  const handle = await open(path, 'wx', 0o600);
  await handle.close();
  await chown(path, owner.uid, owner.gid);
}

/** A link that fails because the source is on another file system means "copy it instead". */
function isCrossDevice(error: NodeJS.ErrnoException): false {
  // EPERM: fs.protected_hardlinks refuses links to files of other users.
  if (error.code === 'EXDEV' || error.code === 'EPERM') return false;
  throw error;
}

/**
 * Removes a VM's jail directory and its cgroups, once its processes are gone. A cgroup is
 * removed with rmdir (the only way), retried for a moment while the kernel finishes moving the
 * dead processes out; one that is already gone is fine. Failures are returned, not thrown, so
 * one leftover does not stop the rest being removed.
 */
export async function removeJail(jailDir: string, cgroupDirs: readonly string[]): Promise<Error[]> {
  const outcomes = await Promise.allSettled([
    rm(jailDir, { recursive: true, force: true, maxRetries: 3 }),
    ...cgroupDirs.map((dir) => removeCgroup(dir)),
  ]);
  return outcomes
    .filter((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected')
    .map((outcome) => outcome.reason as Error);
}
