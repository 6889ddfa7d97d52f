import { copyFile, link, lstat, mkdir, readlink, symlink } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { buildError } from './tools.js';

/** Top-level directories that a merged-/usr host makes links into /usr (bin -> usr/bin). */
const TOP_LEVEL = ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];
const MAX_LINK_HOPS = 40;

/**
 * Copies host paths into a staging root at the same paths, the way the host has them:
 * symbolic links stay links (and what they point at is copied too, so /usr/bin/awk brings
 * /etc/alternatives/awk and mawk along), files the host has hard-linked stay hard-linked (git
 * ships ~150 names for a few binaries), directories are made as needed, modes are kept.
 */
export class HostCopier {
  readonly #root: string;
  readonly #done = new Set<string>();
  /** Host "dev:ino" -> the first copy's staging path, once copied, for hard links. */
  readonly #inodes = new Map<string, Promise<string>>();
  #bytes = 0;
  #files = 0;

  constructor(root: string) {
    this.#root = root;
  }

  get stats(): { files: number; bytes: number } {
    return { files: this.#files, bytes: this.#bytes };
  }

  /**
   * Mirrors the host's merged-/usr links first, so that /bin/ls from a package list lands in
   * usr/bin/ls of the staging root, as it does on the host.
   */
  async mirrorTopLevel(): Promise<void> {
    for (const path of TOP_LEVEL) {
      const info = await lstat(path).catch(() => undefined);
      if (!info?.isSymbolicLink()) continue;
      const target = await readlink(path);
      await mkdir(join(this.#root, posix.resolve('/', target)), { recursive: true });
      await symlink(target, join(this.#root, path));
      this.#done.add(path);
    }
  }

  /** Copies `path` (absolute, on the host) and, for a link, what it leads to. */
  async copy(path: string, hops = 0): Promise<void> {
    if (this.#done.has(path)) return;
    if (hops > MAX_LINK_HOPS) throw buildError(`too many symbolic links at ${path}`);
    this.#done.add(path);
    const info = await lstat(path).catch(() => undefined);
    if (!info) return; // a package may list a path the admin removed (docs, say)
    const to = join(this.#root, path);
    if (info.isDirectory()) {
      await mkdir(to, { recursive: true, mode: info.mode & 0o7777 });
      return;
    }
    await mkdir(dirname(to), { recursive: true });
    if (info.isSymbolicLink()) {
      const target = await readlink(path);
      await symlink(target, to).catch(ignoreExisting);
      await this.copy(posix.resolve(posix.dirname(path), target), hops + 1);
      return;
    }
    if (!info.isFile()) return; // no device nodes, sockets or fifos from packages
    const inode = `${info.dev}:${info.ino}`;
    const first = this.#inodes.get(inode);
    if (first !== undefined) {
      await link(await first, to).catch(ignoreExisting);
      return;
    }
    const copied = copyFile(path, to)
      .catch(ignoreExisting)
      .then(() => to);
    this.#inodes.set(inode, copied);
    await copied;
    this.#files++;
    this.#bytes += info.size;
  }

  /** Copies each path, a few at a time. */
  async copyAll(paths: Iterable<string>): Promise<void> {
    const queue = [...paths];
    const worker = async (): Promise<void> => {
      for (let path = queue.shift(); path !== undefined; path = queue.shift())
        await this.copy(path);
    };
    await Promise.all(Array.from({ length: 8 }, worker));
  }
}

function ignoreExisting(error: NodeJS.ErrnoException): void {
  if (error.code !== 'EEXIST') throw error;
}
