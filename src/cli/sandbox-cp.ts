import { lstat, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join, posix, resolve } from 'node:path';
import { type Readable, Transform, type Writable } from 'node:stream';
import { IronClawError } from '../core/errors.js';
import { DAEMON_METHODS } from '../protocol/daemon-api.js';
import type { RpcClient } from '../protocol/rpc-client.js';
import { TarExtractor } from '../host/tar-extract.js';
import { packPathToPipe } from '../host/workspace-tar.js';
import { writeOrWait } from '../runtime/write-or-wait.js';
import { streamThroughBox } from './box-stream.js';
import { usageError } from './cli-error.js';
import { ProgressLine } from './progress-line.js';

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
  /** Where a large copy's progress goes (stderr in the CLI); default: nowhere. */
  progress?: ProgressLine;
}

/** A copy at least this large shows its progress; a smaller one is over before it would help. */
const LARGE_COPY_BYTES = 16 * 1024 * 1024;

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
  const progress = streams.progress ?? new ProgressLine('off');
  try {
    if (source)
      await copyOut(rpc, source[1] ?? '', boxPath(source[2] ?? ''), to, {
        stdout: streams.stdout,
        progress,
      });
    else
      await copyIn(rpc, from, target?.[1] ?? '', boxPath(target?.[2] ?? ''), {
        stdin: streams.stdin,
        progress,
      });
  } catch (error) {
    progress.clear();
    throw error;
  }
}

async function copyOut(
  rpc: RpcClient,
  id: string,
  path: string,
  to: string,
  { stdout, progress }: { stdout: Writable; progress: ProgressLine },
): Promise<void> {
  if (path === '/')
    throw usageError('copy a directory of the box, not / itself, e.g. dev:/workspace');
  await rpc.request('stat', { id, path }, DAEMON_METHODS.stat.result);
  const argv = ['tar', '-C', posix.dirname(path), '-cf', '-', '--', posix.basename(path)];
  const what = `cannot copy ${id}:${path} out`;
  const total = await boxSize(rpc, id, path);
  const large = total !== undefined && total >= LARGE_COPY_BYTES;
  if (large) progress.begin(`copying ${id}:${path}`, total);
  const counted = (chunk: Buffer): void => {
    if (large) progress.advance(chunk.length);
  };
  if (to === '-') {
    await streamThroughBox(rpc, id, argv, {
      what,
      onStdout: (chunk) => {
        counted(chunk);
        return writeOrWait(stdout, chunk);
      },
    });
    if (large) progress.end(`copied ${id}:${path}`);
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
    await streamThroughBox(rpc, id, argv, {
      what,
      onStdout: (chunk) => {
        counted(chunk);
        return extractor.push(chunk);
      },
    });
    const report = await extractor.end();
    if (large) progress.end(`copied ${id}:${path} to ${host}`);
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
  { stdin, progress }: { stdin: Readable; progress: ProgressLine },
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
  const total = await hostSize(host);
  const large = total >= LARGE_COPY_BYTES;
  const tar = packPathToPipe(host);
  try {
    const argv = into
      ? ['sh', '-c', UNPACK, 'sh', path]
      : ['sh', '-c', UNPACK_AS, 'sh', posix.dirname(path), basename(host), path];
    if (large) progress.begin(`copying ${from}`, total);
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        if (large) progress.advance(chunk.length);
        done(null, chunk);
      },
    });
    tar.stdout.on('error', (error) => counter.destroy(error));
    await streamThroughBox(rpc, id, argv, { what, stdin: tar.stdout.pipe(counter) });
    await tar.done;
    if (large) progress.end(`copied ${from} to ${id}:${path}`);
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

/** Bytes of the regular files under a host path (what its tar mostly is), not following links. */
async function hostSize(path: string): Promise<number> {
  const info = await lstat(path).catch(() => undefined);
  if (!info) return 0;
  if (info.isFile()) return info.size;
  if (!info.isDirectory()) return 0;
  const names = await readdir(path).catch(() => []);
  let total = 0;
  for (const name of names) total += await hostSize(join(path, name));
  return total;
}

/**
 * Bytes under a box path as the box's `du` counts them (apparent sizes), for a copy's bar; undefined when
 * the box cannot say (a du without -b), and the copy then shows no bar.
 */
async function boxSize(rpc: RpcClient, id: string, path: string): Promise<number | undefined> {
  let text = '';
  const counted = await streamThroughBox(rpc, id, ['du', '-s', '-b', '--', path], {
    what: `cannot size ${id}:${path}`,
    onStdout: (chunk) => {
      text += chunk.toString();
      return undefined;
    },
  }).then(
    () => true,
    () => false,
  );
  const bytes = counted ? /^(\d+)\s/.exec(text)?.[1] : undefined;
  return bytes === undefined ? undefined : Number(bytes);
}
