import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { IronClawError } from '../core/errors.js';
import { DAEMON_METHODS } from '../protocol/daemon-api.js';
import type { RpcClient } from '../protocol/rpc-client.js';
import { writeOrWait } from '../runtime/write-or-wait.js';
import { usageError } from './cli-error.js';

/** A path in a box as the daemon takes it: text, or base64 of a name that is not UTF-8. */
export interface BoxPath {
  path: string;
  pathEncoding?: 'base64';
}

/** Bytes per request: base64 of it fits a 16 MiB frame with room to spare. */
const CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * The file `sandbox write` sends: stdin for `-`, else a host file, which must exist and be a
 * regular file (a missing one is the caller's mistake, said with its path, never INTERNAL).
 */
export async function openSource(source: string): Promise<Readable> {
  if (source === '-') return process.stdin;
  const handle = await open(source, 'r').catch((error: NodeJS.ErrnoException) => {
    throw usageError(
      error.code === 'ENOENT'
        ? `the local file ${JSON.stringify(source)} does not exist`
        : `cannot open the local file ${JSON.stringify(source)}: ${error.code ?? error.message}`,
    );
  });
  const info = await handle.stat();
  if (!info.isFile()) {
    await handle.close();
    throw usageError(
      `the local file ${JSON.stringify(source)} is not a regular file; sandbox write copies one file`,
    );
  }
  return createReadStream('', { fd: handle, highWaterMark: CHUNK_BYTES });
}

/** A destination ending in / is a directory: the file goes in it under the source's name. */
export function targetPath(path: string, source: string, base64: boolean): BoxPath {
  if (base64) return { path, pathEncoding: 'base64' };
  if (!path.endsWith('/')) return { path };
  if (source === '-')
    throw usageError(
      `${JSON.stringify(path)} names a directory: give the file's name too when writing from stdin`,
    );
  return { path: `${path}${posix.basename(source)}` };
}

/**
 * Sends a stream to a file of a sandbox one chunk per request, each answered before the next
 * is read: any size goes in, at the pace of the box, with one chunk in memory at a time.
 */
export async function writeFileIn(
  rpc: RpcClient,
  id: string,
  target: BoxPath,
  input: Readable,
): Promise<void> {
  let offset: number | undefined;
  const send = async (data: Buffer): Promise<void> => {
    await rpc.request(
      'write_file',
      { id, ...target, data: data.toString('base64'), ...(offset === undefined ? {} : { offset }) },
      DAEMON_METHODS.write_file.result,
    );
    offset = (offset ?? 0) + data.length;
  };
  let held: Buffer[] = [];
  let heldBytes = 0;
  for await (const piece of input) {
    const chunk = Buffer.isBuffer(piece) ? piece : Buffer.from(piece as string);
    held.push(chunk);
    heldBytes += chunk.length;
    if (heldBytes >= CHUNK_BYTES) {
      await send(Buffer.concat(held, heldBytes));
      held = [];
      heldBytes = 0;
    }
  }
  // The last piece, or an empty file: the first request (no offset) creates or truncates it.
  if (heldBytes > 0 || offset === undefined) await send(Buffer.concat(held, heldBytes));
}

/** Copies a file of a sandbox to `output` one chunk per request, at the pace of `output`. */
export async function readFileOut(
  rpc: RpcClient,
  id: string,
  source: BoxPath,
  output: Writable,
): Promise<void> {
  let offset = 0;
  for (;;) {
    const chunk = await rpc.request(
      'read_file',
      { id, ...source, offset },
      DAEMON_METHODS.read_file.result,
    );
    const data = Buffer.from(chunk.data, 'base64');
    offset += data.length;
    await writeOrWait(output, data);
    if (!chunk.truncated) return;
    if (data.length === 0)
      throw new IronClawError('FILE_ERROR', `${source.path} ended short of its size`);
  }
}
