import { constants, type Stats } from 'node:fs';
import { lstat, mkdir, open, readdir, rm } from 'node:fs/promises';
import { posix } from 'node:path';
import { IronClawError } from '../core/errors.js';
import { type FileInfo, MAX_FILE_CHUNK_BYTES, type ReadFileResult } from '../protocol/guest-api.js';
import { bytePath, describeName, fsPath, shownPath } from './byte-path.js';
import { confinePath } from './confine.js';

const MAX_LIST_ENTRIES = 10_000;

type PathEncoding = 'utf8' | 'base64' | undefined;

/*
 * File operations never block on what a box planted: a FIFO, a socket or a device is opened
 * with O_NONBLOCK (so open returns at once, or fails with ENXIO), then refused by fstat. A
 * blocking open of a FIFO would hold one of node's four threadpool threads for good, and four
 * of them would stop every file operation and exec of the box.
 */
const OPEN_FLAGS = constants.O_NONBLOCK | constants.O_NOCTTY;

export async function writeSandboxFile(params: {
  path: string;
  pathEncoding?: PathEncoding;
  data: string;
  mode?: number | undefined;
  append?: boolean | undefined;
  offset?: number | undefined;
}): Promise<{ bytes: number }> {
  const path = await confinePath(bytePath(params.path, params.pathEncoding));
  const data = Buffer.from(params.data, 'base64');
  await fileOp(path, async () => {
    await mkdir(fsPath(posix.dirname(path)), { recursive: true });
    const flags =
      OPEN_FLAGS |
      constants.O_WRONLY |
      constants.O_CREAT |
      (params.append ? constants.O_APPEND : 0);
    const handle = await open(fsPath(path), flags, 0o666);
    try {
      assertRegular(path, await handle.stat());
      // Truncate only once the file is known to be a regular one.
      if (!params.append && params.offset === undefined) await handle.truncate(0);
      let position = params.offset ?? 0;
      for (let done = 0; done < data.length;) {
        const { bytesWritten } = await handle.write(
          data,
          done,
          data.length - done,
          params.append ? null : position,
        );
        done += bytesWritten;
        position += bytesWritten;
      }
      if (params.mode !== undefined) await handle.chmod(params.mode);
    } finally {
      await handle.close();
    }
  });
  return { bytes: data.length };
}

/** One chunk of a regular file: up to `maxBytes` (at most MAX_FILE_CHUNK_BYTES) from `offset`. */
export async function readSandboxFile(params: {
  path: string;
  pathEncoding?: PathEncoding;
  offset?: number | undefined;
  maxBytes?: number | undefined;
}): Promise<ReadFileResult> {
  const path = await confinePath(bytePath(params.path, params.pathEncoding));
  const limit = Math.min(params.maxBytes ?? MAX_FILE_CHUNK_BYTES, MAX_FILE_CHUNK_BYTES);
  const offset = params.offset ?? 0;
  return fileOp(path, async () => {
    const handle = await open(fsPath(path), OPEN_FLAGS | constants.O_RDONLY);
    try {
      const info = await handle.stat();
      assertRegular(path, info);
      const buffer = Buffer.alloc(Math.max(0, Math.min(limit, info.size - offset)));
      let bytesRead = 0;
      while (bytesRead < buffer.length) {
        const read = await handle.read(
          buffer,
          bytesRead,
          buffer.length - bytesRead,
          offset + bytesRead,
        );
        if (read.bytesRead === 0) break; // the file shrank meanwhile
        bytesRead += read.bytesRead;
      }
      return {
        data: buffer.subarray(0, bytesRead).toString('base64'),
        size: info.size,
        truncated: info.size > offset + bytesRead,
      };
    } finally {
      await handle.close();
    }
  });
}

export async function listSandboxDir(params: {
  path: string;
  pathEncoding?: PathEncoding;
}): Promise<{ entries: FileInfo[]; omitted?: number }> {
  const path = await confinePath(bytePath(params.path, params.pathEncoding));
  return fileOp(path, async () => {
    const all = (await readdir(fsPath(path), { encoding: 'buffer' })).sort((a, b) =>
      Buffer.compare(a, b),
    );
    const names = all.slice(0, MAX_LIST_ENTRIES);
    const entries = await Promise.all(
      names.map(async (name) => {
        const full = posix.join(path, name.toString('latin1'));
        // An entry removed since readdir is left out rather than failing the whole listing.
        const info = await lstat(fsPath(full)).catch((error: NodeJS.ErrnoException) => {
          if (error.code === 'ENOENT') return undefined;
          throw error;
        });
        return info && describe(full, info);
      }),
    );
    const omitted = all.length - names.length;
    return {
      entries: entries.filter((entry) => entry !== undefined),
      ...(omitted > 0 ? { omitted } : {}),
    };
  });
}

export async function statSandboxPath(params: {
  path: string;
  pathEncoding?: PathEncoding;
}): Promise<FileInfo> {
  const path = await confinePath(bytePath(params.path, params.pathEncoding), {
    followFinal: false,
  });
  return fileOp(path, async () => describe(path, await lstat(fsPath(path))));
}

export async function removeSandboxPath(params: {
  path: string;
  pathEncoding?: PathEncoding;
  recursive?: boolean | undefined;
}): Promise<Record<string, never>> {
  const path = await confinePath(bytePath(params.path, params.pathEncoding), {
    followFinal: false,
  });
  if (['/workspace', '/tmp'].includes(path)) {
    throw new IronClawError(
      'INVALID_ARGUMENT',
      `refusing to remove ${path} itself; remove what is inside it`,
    );
  }
  await fileOp(path, () => rm(fsPath(path), { recursive: params.recursive ?? false }));
  return {};
}

function describe(path: string, info: Stats): FileInfo {
  const name = describeName(posix.basename(path));
  const full = describeName(path);
  return {
    name: name.text,
    path: full.text,
    ...(name.bytes === undefined ? {} : { nameBytes: name.bytes }),
    ...(full.bytes === undefined ? {} : { pathBytes: full.bytes }),
    type: kindOf(info),
    size: info.size,
    mode: info.mode & 0o7777,
    mtimeMs: info.mtimeMs,
  };
}

function kindOf(info: Stats): FileInfo['type'] {
  if (info.isFile()) return 'file';
  if (info.isDirectory()) return 'directory';
  if (info.isSymbolicLink()) return 'symlink';
  return 'other';
}

function assertRegular(path: string, info: Stats): void {
  if (info.isFile()) return;
  const kind = info.isDirectory()
    ? 'a directory'
    : info.isFIFO()
      ? 'a FIFO'
      : info.isSocket()
        ? 'a socket'
        : 'a device or other special file';
  throw new IronClawError(
    'FILE_ERROR',
    `${shownPath(path)} is ${kind}, not a regular file; only regular files can be read or written`,
  );
}

/** Turns filesystem errors into typed errors that name the path. */
async function fileOp<T>(path: string, operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (error instanceof IronClawError) throw error;
    const shown = shownPath(path);
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new IronClawError('NOT_FOUND', `${shown} does not exist in the sandbox`);
    if (code === 'EISDIR')
      throw new IronClawError('FILE_ERROR', `${shown} is a directory, not a regular file`);
    // O_NONBLOCK open of a FIFO with no reader, or of a socket.
    if (code === 'ENXIO')
      throw new IronClawError(
        'FILE_ERROR',
        `${shown} is a FIFO or socket, not a regular file; only regular files can be read or written`,
      );
    const reason = code ?? (error instanceof Error ? error.message : String(error));
    throw new IronClawError('FILE_ERROR', `file operation on ${shown} failed: ${reason}`, {
      cause: error,
    });
  }
}
