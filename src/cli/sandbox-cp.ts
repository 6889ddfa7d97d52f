import { lstat, stat } from 'node:fs/promises';
import { basename, dirname, posix, resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { IronClawError } from '../core/errors.js';
import { DAEMON_METHODS } from '../protocol/daemon-api.js';
import type { RpcClient } from '../protocol/rpc-client.js';
import { TarExtractor } from '../host/tar-extract.js';
import { packPathToPipe } from '../host/workspace-tar.js';
import { writeOrWait } from '../runtime/write-or-wait.js';
import { streamThroughBox } from './box-stream.js';
import { usageError } from './cli-error.js';

/** `ID:PATH`: the box side of a copy (an id is what ids are; a host path with a colon: ./a:b). */
const BOX_SIDE = /^([a-z0-9][a-z0-9-]{0,62}):(.*)$/s;

/**
 * In the box, unpack a tar from stdin into a directory with the modes the archive gives (a
 * box's tar applies its umask otherwise), and with GNU tar or busybox alike.
 */
const UNPACK = 'umask 0; exec tar -xf - -C "$1"';
/** The same, to a new name: unpacked beside it, then renamed, so a half copy never has the name. */
const UNPACK_AS =
  'set -e; umask 0; t=$(mktemp -d "$1/.ironclaw-cp.XXXXXX"); trap \'rm -rf "$t"\' EXIT; tar -xf - -C "$t"; mv -f "$t/$2" "$3"';

export interface CpStreams {
  stdin: Readable;
  stdout: Writable;
}

/**
 * `ironclaw sandbox cp`, as `docker cp`: `ID:PATH HOST` or `HOST ID:PATH`, a file or a whole
 * directory, streamed as tar through the daemon (any size; one chunk held at a time), modes
 * kept. `-` is a tar stream on stdin or stdout. Into an existing directory the copy keeps its
 * name; otherwise it takes the destination's. Nothing is written through a symlink on the host
 * (host/tar-extract.ts); a box path is absolute, or relative to /workspace.
 */
export async function sandboxCp(
  rpc: RpcClient,
  from: string,
  to: string,
  streams: CpStreams,
): Promise<void> {
  const source = BOX_SIDE.exec(from);
  const target = BOX_SIDE.exec(to);
  if ((source === null) === (target === null))
    throw usageError(
      `give one side as SANDBOX:PATH and the other as a host path or -, e.g. ironclaw sandbox cp dev:/workspace/out ./out`,
    );
  if (source) return copyOut(rpc, source[1] ?? '', boxPath(source[2] ?? ''), to, streams.stdout);
  return copyIn(rpc, from, target?.[1] ?? '', boxPath(target?.[2] ?? ''), streams.stdin);
}

async function copyOut(
  rpc: RpcClient,
  id: string,
  path: string,
  to: string,
  stdout: Writable,
): Promise<void> {
  if (path === '/')
    throw usageError('copy a directory of the box, not / itself, e.g. dev:/workspace');
  await rpc.request('stat', { id, path }, DAEMON_METHODS.stat.result);
  const argv = ['tar', '-C', posix.dirname(path), '-cf', '-', '--', posix.basename(path)];
  const what = `cannot copy ${id}:${path} out`;
  if (to === '-') {
    await streamThroughBox(rpc, id, argv, {
      what,
      onStdout: (chunk) => writeOrWait(stdout, chunk),
    });
    return;
  }
  const host = resolve(to);
  const into = await stat(host).then(
    (info) => info.isDirectory(),
    () => false,
  );
  const extractor = into
    ? new TarExtractor(host, { top: posix.basename(path) })
    : new TarExtractor(await existingParent(host), {
        top: posix.basename(path),
        as: basename(host),
      });
  try {
    await streamThroughBox(rpc, id, argv, { what, onStdout: (chunk) => extractor.push(chunk) });
    const report = await extractor.end();
    if (report.skipped.length > 0)
      process.stderr.write(
        `ironclaw: left out ${report.skipped.length} device or fifo entries (never made on the host): ${report.skipped.slice(0, 5).join(', ')}\n`,
      );
  } finally {
    await extractor.close();
  }
}

async function copyIn(
  rpc: RpcClient,
  from: string,
  id: string,
  path: string,
  stdin: Readable,
): Promise<void> {
  const what = `cannot copy ${from === '-' ? 'stdin' : from} into ${id}:${path}`;
  const into = await rpc
    .request('stat', { id, path }, DAEMON_METHODS.stat.result)
    .then((info) => info.type === 'directory')
    .catch((error: unknown) => {
      if (error instanceof IronClawError && error.code === 'SANDBOX_NOT_FOUND') throw error;
      return false;
    });
  if (from === '-') {
    if (!into)
      throw usageError(
        `${id}:${path} is not a directory of the box: a tar stream unpacks into one`,
      );
    await streamThroughBox(rpc, id, ['sh', '-c', UNPACK, 'sh', path], { what, stdin });
    return;
  }
  const host = resolve(from);
  await lstat(host).catch((error: NodeJS.ErrnoException) => {
    throw usageError(
      `cannot copy ${from}: ${error.code === 'ENOENT' ? 'it does not exist' : error.message}`,
    );
  });
  const tar = packPathToPipe(host);
  try {
    const argv = into
      ? ['sh', '-c', UNPACK, 'sh', path]
      : ['sh', '-c', UNPACK_AS, 'sh', posix.dirname(path), basename(host), path];
    await streamThroughBox(rpc, id, argv, { what, stdin: tar.stdout });
    await tar.done;
  } finally {
    tar.stop();
  }
}

/** A box path: absolute, or relative to /workspace; normalised, with no trailing slash. */
function boxPath(raw: string): string {
  if (raw === '')
    throw usageError('give a path in the box after the colon, e.g. dev:/workspace/out');
  const path = posix.resolve('/workspace', raw);
  return path;
}

async function existingParent(host: string): Promise<string> {
  const parent = dirname(host);
  const info = await stat(parent).catch(() => undefined);
  if (!info?.isDirectory())
    throw usageError(`cannot copy to ${host}: its directory ${parent} does not exist`);
  return parent;
}
