import type { Stats } from 'node:fs';
import { appendFile, chmod, lstat, mkdir, open, readdir, rm, writeFile } from 'node:fs/promises';
import { posix } from 'node:path';
import { IronClawError } from '../core/errors.js';
import type { FileInfo, ReadFileResult } from '../protocol/guest-api.js';
import { confinePath } from './confine.js';

/** Default cap for one read: base64 of it must fit in a 16 MiB frame with room to spare. */
const DEFAULT_MAX_READ_BYTES = 8 * 1024 * 1024;
const MAX_LIST_ENTRIES = 10_000;

export async function writeSandboxFile(params: {
  path: string;
  data: string;
  mode?: number | undefined;
  append?: boolean | undefined;
}): Promise<{ bytes: number }> {
  const path = await confinePath(params.path);
  const data = Buffer.from(params.data, 'base64');
  await fileOp(path, async () => {
    await mkdir(posix.dirname(path), { recursive: true });
    if (params.append) await appendFile(path, data);
    else await writeFile(path, data);
    if (params.mode !== undefined) await chmod(path, params.mode);
  });
  return { bytes: data.length };
}

export async function readSandboxFile(params: {
  path: string;
  maxBytes?: number | undefined;
}): Promise<ReadFileResult> {
  const path = await confinePath(params.path);
  const limit = Math.min(params.maxBytes ?? DEFAULT_MAX_READ_BYTES, DEFAULT_MAX_READ_BYTES);
  return fileOp(path, async () => {
    const handle = await open(path, 'r');
    try {
      const info = await handle.stat();
      if (!info.isFile()) throw new IronClawError('FILE_ERROR', `${path} is not a regular file`);
      const buffer = Buffer.alloc(Math.min(limit, info.size));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      return {
        data: buffer.subarray(0, bytesRead).toString('base64'),
        size: info.size,
        truncated: info.size > bytesRead,
      };
    } finally {
      await handle.close();
    }
  });
}

export async function listSandboxDir(params: { path: string }): Promise<{ entries: FileInfo[] }> {
  const path = await confinePath(params.path);
  return fileOp(path, async () => {
    const names = (await readdir(path)).sort().slice(0, MAX_LIST_ENTRIES);
    const entries = await Promise.all(
      names.map(async (name) => {
        const full = posix.join(path, name);
        return describe(full, await lstat(full));
      }),
    );
    return { entries };
  });
}

export async function statSandboxPath(params: { path: string }): Promise<FileInfo> {
  const path = await confinePath(params.path, { followFinal: false });
  return fileOp(path, async () => describe(path, await lstat(path)));
}

export async function removeSandboxPath(params: {
  path: string;
  recursive?: boolean | undefined;
}): Promise<Record<string, never>> {
  const path = await confinePath(params.path, { followFinal: false });
  if (['/workspace', '/tmp'].includes(path)) {
    throw new IronClawError(
      'INVALID_ARGUMENT',
      `refusing to remove ${path} itself; remove what is inside it`,
    );
  }
  await fileOp(path, () => rm(path, { recursive: params.recursive ?? false }));
  return {};
}

function describe(path: string, info: Stats): FileInfo {
  return {
    name: posix.basename(path),
    path,
    type: info.isFile()
      ? 'file'
      : info.isDirectory()
        ? 'directory'
        : info.isSymbolicLink()
          ? 'symlink'
          : 'other',
    size: info.size,
    mode: info.mode & 0o7777,
    mtimeMs: info.mtimeMs,
  };
}

/** Turns filesystem errors into typed errors that name the path. */
async function fileOp<T>(path: string, operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (error instanceof IronClawError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new IronClawError('NOT_FOUND', `${path} does not exist in the sandbox`);
    const reason = code ?? (error instanceof Error ? error.message : String(error));
    throw new IronClawError('FILE_ERROR', `file operation on ${path} failed: ${reason}`, {
      cause: error,
    });
  }
}
