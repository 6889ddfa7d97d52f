import {
  constants,
  type FileHandle,
  chmod,
  link,
  lstat,
  mkdir,
  open,
  symlink,
  unlink,
} from 'node:fs/promises';
import { join } from 'node:path';
import { IronClawError } from '../core/errors.js';
import { normaliseArchivePath } from '../core/archive-path.js';
import { type TarEntry, type TarEvent, TarReader } from '../core/tar-reader.js';

/** What an extraction wrote, and what it left out. */
export interface ExtractReport {
  files: number;
  directories: number;
  symlinks: number;
  bytes: number;
  /** Devices and fifos: never made on the host. */
  skipped: string[];
}

/**
 * Unpacks a tar stream from a box into a host directory (`sandbox cp` out), without ever
 * following a link: the reader only passes entries whose parent is an earlier directory entry
 * of the archive, each such directory is one this extractor made or found as a real directory
 * (lstat, never a symlink), and files are opened with O_NOFOLLOW. So a symlink the box made
 * (`esc -> /etc`, then `esc/passwd`) lands as a symlink and nothing is written through it. Modes
 * keep their permission bits; setuid, setgid and sticky bits are dropped, the box's owners are
 * not kept (everything belongs to the caller). Any size: only one chunk is held at a time.
 */
export class TarExtractor {
  readonly #dir: string;
  readonly #top: string;
  readonly #as: string;
  readonly #reader = new TarReader({
    maxDataBytes: Number.MAX_SAFE_INTEGER,
    maxEntries: 10_000_000,
  });
  readonly #files = new Set<string>();
  readonly #directoryModes: [string, number][] = [];
  readonly #report: ExtractReport = {
    files: 0,
    directories: 0,
    symlinks: 0,
    bytes: 0,
    skipped: [],
  };
  #file: { handle: FileHandle; mode: number } | undefined;

  /**
   * `top`: the one name the archive's entries may lie under (what was copied), written as `as`
   * (cp to a new name) or as itself. Anything else in the archive is refused.
   */
  constructor(dir: string, options: { top: string; as?: string }) {
    this.#dir = dir;
    this.#top = options.top;
    this.#as = options.as ?? options.top;
  }

  /** Writes what `chunk` completes; resolves once it is on disk (the caller's backpressure). */
  async push(chunk: Uint8Array): Promise<void> {
    for (const event of this.#reader.push(chunk)) await this.#apply(event);
  }

  /** The stream ended: checks the archive was whole, sets the directories' modes. */
  async end(): Promise<ExtractReport> {
    this.#reader.end();
    // Deepest first, after their contents: a read-only directory could not have been filled.
    for (const [path, mode] of this.#directoryModes.reverse()) await chmod(path, mode);
    return this.#report;
  }

  /** Closes a file left open by a stream that failed. Idempotent. */
  async close(): Promise<void> {
    const file = this.#file;
    this.#file = undefined;
    await file?.handle.close();
  }

  async #apply(event: TarEvent): Promise<void> {
    if (event.kind === 'data') {
      const file = this.#file;
      if (!file) return;
      await file.handle.write(event.data);
      this.#report.bytes += event.data.length;
      return;
    }
    if (event.kind === 'entry-end') {
      const file = this.#file;
      if (!file) return;
      this.#file = undefined;
      try {
        await file.handle.chmod(file.mode);
      } finally {
        await file.handle.close();
      }
      return;
    }
    await this.#entry(event.entry);
  }

  async #entry(entry: TarEntry): Promise<void> {
    const path = this.#hostPath(entry.path);
    const mode = entry.mode & 0o777;
    switch (entry.type) {
      case 'directory': {
        await mkdir(path, { mode: 0o700 }).catch(async (error: NodeJS.ErrnoException) => {
          if (error.code !== 'EEXIST') throw fileError(path, error);
          if (!(await lstat(path)).isDirectory())
            throw unsafe(path, 'it exists and is not a directory (a symlink is never followed)');
        });
        this.#directoryModes.push([path, mode]);
        this.#report.directories++;
        return;
      }
      case 'file': {
        const handle = await open(
          path,
          constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
          0o600,
        ).catch((error: NodeJS.ErrnoException) => {
          throw error.code === 'ELOOP'
            ? unsafe(path, 'it is a symlink, which is never followed')
            : fileError(path, error);
        });
        this.#file = { handle, mode };
        this.#files.add(entry.path);
        this.#report.files++;
        return;
      }
      case 'symlink': {
        await this.#replaceable(path);
        await symlink(entry.linkTarget ?? '', path).catch((error: NodeJS.ErrnoException) => {
          throw fileError(path, error);
        });
        this.#report.symlinks++;
        return;
      }
      case 'hardlink': {
        const target = normaliseArchivePath(entry.linkTarget ?? '');
        if (!target.ok || !this.#files.has(target.value))
          throw unsafe(
            path,
            `its hard link target ${JSON.stringify(entry.linkTarget)} is not a file copied before it`,
          );
        await this.#replaceable(path);
        await link(this.#hostPath(target.value), path).catch((error: NodeJS.ErrnoException) => {
          throw fileError(path, error);
        });
        this.#files.add(entry.path);
        this.#report.files++;
        return;
      }
      case 'other':
        this.#report.skipped.push(entry.path);
        return;
    }
  }

  /** A file or symlink already there is replaced (as cp does); a directory is not. */
  async #replaceable(path: string): Promise<void> {
    const existing = await lstat(path).catch(() => undefined);
    if (existing === undefined) return;
    if (existing.isDirectory()) throw unsafe(path, 'a directory is in the way');
    await unlink(path);
  }

  #hostPath(archivePath: string): string {
    const [top = '', ...rest] = archivePath.split('/');
    if (top !== this.#top)
      throw unsafe(
        join(this.#dir, archivePath),
        `the archive should hold ${JSON.stringify(this.#top)} only`,
      );
    return join(this.#dir, this.#as, ...rest);
  }
}

function unsafe(path: string, why: string): IronClawError {
  return new IronClawError('ARCHIVE_UNSAFE', `refused to write ${path}: ${why}`);
}

function fileError(path: string, error: NodeJS.ErrnoException): IronClawError {
  return new IronClawError('FILE_ERROR', `cannot write ${path}: ${error.message}`, {
    cause: error,
  });
}
