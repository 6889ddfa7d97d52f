import { posix } from 'node:path';
import { IronClawError } from '../core/errors.js';

/**
 * A writer for the "newc" cpio format (SVR4 without checksums, magic 070701), the format the
 * Linux kernel unpacks as an initramfs. Written by us so an image build needs no cpio binary
 * and its output is reproducible: fixed mtime, uid and gid 0, inodes numbered in order.
 *
 * Format (per entry): a 110-byte ASCII header of "070701" and 13 eight-digit hex fields, the
 * NUL-terminated name padded to 4 bytes, then the data padded to 4 bytes; the archive ends with
 * an entry named TRAILER!!!.
 */

export type CpioEntry =
  | { type: 'directory'; path: string; mode?: number }
  | { type: 'file'; path: string; data: Uint8Array; mode?: number }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'chardev'; path: string; major: number; minor: number; mode?: number };

export interface CpioOptions {
  /** Modification time of every entry, in seconds since the epoch (default 0: reproducible). */
  mtime?: number;
}

const MAGIC = '070701';
const TRAILER = 'TRAILER!!!';
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;
const MAX_FIELD = 0xffff_ffff;

/**
 * The archive of `entries`, in their order. Parent directories that are not listed before
 * their children are added (mode 0755), since the kernel's unpacker does not create them.
 */
export function cpioArchive(entries: readonly CpioEntry[], options: CpioOptions = {}): Buffer {
  const mtime = options.mtime ?? 0;
  const chunks: Buffer[] = [];
  const seen = new Set<string>();
  let inode = 1;
  const add = (entry: CpioEntry): void => {
    const path = normalise(entry.path);
    if (seen.has(path)) {
      throw new IronClawError('INVALID_ARGUMENT', `cpio: ${path} is listed twice`);
    }
    const parent = posix.dirname(path);
    if (parent !== '.' && !seen.has(parent)) add({ type: 'directory', path: parent });
    seen.add(path);
    const { mode, data, rdev } = shape(entry);
    chunks.push(
      ...record(path, {
        inode: inode++,
        mode,
        mtime,
        nlink: entry.type === 'directory' ? 2 : 1,
        data,
        rdev,
      }),
    );
  };
  for (const entry of entries) add(entry);
  chunks.push(
    ...record(TRAILER, { inode: 0, mode: 0, mtime: 0, nlink: 1, data: new Uint8Array(0) }),
  );
  return Buffer.concat(chunks);
}

function shape(entry: CpioEntry): {
  mode: number;
  data: Uint8Array;
  rdev?: { major: number; minor: number };
} {
  switch (entry.type) {
    case 'directory':
      return { mode: S_IFDIR | permissions(entry.mode ?? 0o755), data: new Uint8Array(0) };
    case 'file':
      return { mode: S_IFREG | permissions(entry.mode ?? 0o644), data: entry.data };
    case 'symlink':
      if (entry.target === '' || entry.target.includes('\0')) {
        throw new IronClawError('INVALID_ARGUMENT', `cpio: bad symlink target for ${entry.path}`);
      }
      return { mode: S_IFLNK | 0o777, data: Buffer.from(entry.target) };
    case 'chardev':
      return {
        mode: S_IFCHR | permissions(entry.mode ?? 0o600),
        data: new Uint8Array(0),
        rdev: { major: entry.major, minor: entry.minor },
      };
  }
}

/** A path inside the archive: relative, no "." or ".." components, no NUL. */
function normalise(path: string): string {
  const clean = posix.normalize(path.replace(/^\/+/, ''));
  if (
    clean === '.' ||
    clean === '' ||
    clean.includes('\0') ||
    clean.split('/').includes('..') ||
    clean === TRAILER
  ) {
    throw new IronClawError('INVALID_ARGUMENT', `cpio: bad entry path ${JSON.stringify(path)}`);
  }
  return clean.replace(/\/$/, '');
}

function permissions(mode: number): number {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
    throw new IronClawError('INVALID_ARGUMENT', `cpio: bad permission bits ${mode}`);
  }
  return mode;
}

function record(
  name: string,
  fields: {
    inode: number;
    mode: number;
    mtime: number;
    nlink: number;
    data: Uint8Array;
    rdev?: { major: number; minor: number } | undefined;
  },
): Buffer[] {
  const nameBytes = Buffer.from(`${name}\0`);
  const values = [
    fields.inode,
    fields.mode,
    0, // uid
    0, // gid
    fields.nlink,
    fields.mtime,
    fields.data.length,
    0, // devmajor
    0, // devminor
    fields.rdev?.major ?? 0,
    fields.rdev?.minor ?? 0,
    nameBytes.length,
    0, // check (unused by newc)
  ];
  const header = MAGIC + values.map((value) => hex8(value, name)).join('');
  return [
    Buffer.from(header, 'ascii'),
    nameBytes,
    padding(header.length + nameBytes.length),
    Buffer.from(fields.data.buffer, fields.data.byteOffset, fields.data.byteLength),
    padding(fields.data.length),
  ];
}

function hex8(value: number, name: string): string {
  if (!Number.isInteger(value) || value < 0 || value > MAX_FIELD) {
    throw new IronClawError('INVALID_ARGUMENT', `cpio: a field of ${name} does not fit: ${value}`);
  }
  return value.toString(16).padStart(8, '0');
}

function padding(length: number): Buffer {
  return Buffer.alloc((4 - (length % 4)) % 4);
}
