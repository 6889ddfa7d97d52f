import { createHash } from 'node:crypto';
import { IronClawError, toIronClawError } from '../core/errors.js';
import { excludedBy, type IgnoreRule } from '../core/ignore-rules.js';
import { TarReader } from '../core/tar-reader.js';
import type { WorkspaceEntry } from '../core/workspace-changes.js';
import type { ExecResult } from '../protocol/guest-api.js';
import { BoundedTail } from '../host/bounded-tail.js';

/** What the workspace round trip needs of a sandbox (a Sandbox, without importing it). */
export interface WorkspaceBox {
  readonly id: string;
  exec(
    argv: readonly string[],
    options: {
      stdin?: AsyncIterable<Uint8Array>;
      maxOutputBytes?: number;
      collect?: boolean;
      onStdout?: (chunk: Buffer) => void;
      onStderr?: (chunk: Buffer) => void;
      signal?: AbortSignal;
    },
  ): Promise<ExecResult>;
}

export interface BoxTree {
  entries: Map<string, WorkspaceEntry>;
  /** New bytes of files that differ from the manifest (or are new). */
  contents: Map<string, Buffer>;
  ignored: { path: string; pattern: string }[];
  skipped: { path: string; reason: string }[];
}

export interface ReadBoxOptions {
  /** What was copied in: a file's bytes are kept only when they differ from it. */
  manifest: ReadonlyMap<string, WorkspaceEntry>;
  /** The exclusions of the copy-in: what they match in the box is reported, never applied. */
  rules: readonly IgnoreRule[];
  maxBytes: number;
  maxEntries: number;
  signal?: AbortSignal;
}

/**
 * The box's /workspace as a tree: `tar -c` runs in the box and its archive is parsed here,
 * in node, by TarReader, never unpacked by the host's tar. Files are hashed as they stream;
 * the bytes of a file are kept only when it differs from the manifest.
 */
export async function readBoxTree(box: WorkspaceBox, options: ReadBoxOptions): Promise<BoxTree> {
  const { signal } = options;
  const reader = new TarReader({ maxDataBytes: options.maxBytes, maxEntries: options.maxEntries });
  const tree: BoxTree = { entries: new Map(), contents: new Map(), ignored: [], skipped: [] };
  let current:
    { entry: WorkspaceEntry; hash: ReturnType<typeof createHash>; chunks: Buffer[] } | undefined;
  let failure: IronClawError | undefined;
  const stderr = new BoundedTail();
  // Headers and padding on top of the data: a block a path, a block of slack a file. The
  // guest agent caps the output too; this count holds even for a guest that would not.
  const maxArchiveBytes = options.maxBytes + options.maxEntries * 1024 + 1024 * 1024;
  let received = 0;
  const onStdout = (chunk: Buffer): void => {
    if (failure !== undefined) return;
    received += chunk.length;
    if (received > maxArchiveBytes) {
      failure = new IronClawError(
        'WORKSPACE_TOO_LARGE',
        `sandbox ${box.id}'s workspace archive is over ${maxArchiveBytes} bytes`,
      );
      abort.abort(failure);
      return;
    }
    try {
      for (const event of reader.push(chunk)) {
        if (event.kind === 'entry') {
          const { entry } = event;
          const rule = excludedBy(options.rules, entry.path, entry.type === 'directory');
          if (rule) {
            if (!excludedBy(options.rules, entry.path.split('/').slice(0, -1).join('/'), true))
              tree.ignored.push({ path: entry.path, pattern: rule.pattern });
            current = undefined;
            continue;
          }
          if (entry.type === 'other' || entry.type === 'hardlink') {
            tree.skipped.push({
              path: entry.path,
              reason:
                entry.type === 'hardlink'
                  ? `a hard link to ${entry.linkTarget ?? '?'}`
                  : `a special file (tar type ${entry.typeflag ?? '?'})`,
            });
            current = undefined;
            continue;
          }
          const kept: WorkspaceEntry = {
            path: entry.path,
            type: entry.type,
            mode: entry.type === 'symlink' ? 0o777 : entry.mode & 0o777,
            size: entry.type === 'file' ? entry.size : 0,
            ...(entry.linkTarget === undefined ? {} : { target: entry.linkTarget }),
          };
          tree.entries.set(entry.path, kept);
          current =
            entry.type === 'file'
              ? { entry: kept, hash: createHash('sha256'), chunks: [] }
              : undefined;
        } else if (event.kind === 'data' && current) {
          current.hash.update(event.data);
          current.chunks.push(Buffer.from(event.data));
        } else if (event.kind === 'entry-end' && current) {
          current.entry.sha256 = current.hash.digest('hex');
          if (options.manifest.get(current.entry.path)?.sha256 !== current.entry.sha256)
            tree.contents.set(current.entry.path, Buffer.concat(current.chunks));
          current = undefined;
        }
      }
    } catch (error) {
      failure = toIronClawError(error);
      abort.abort(error);
    }
  };
  const abort = new AbortController();
  const result = await box
    .exec(['tar', '-c', '-f', '-', '-C', '/workspace', '--hard-dereference', '.'], {
      collect: false,
      onStdout,
      onStderr: (chunk) => stderr.push(chunk),
      maxOutputBytes: maxArchiveBytes,
      signal: signal ? AbortSignal.any([signal, abort.signal]) : abort.signal,
    })
    .catch((error: unknown) => {
      throw failure ?? error;
    });
  if (failure !== undefined) throw failure;
  if (result.truncated)
    throw new IronClawError(
      'WORKSPACE_TOO_LARGE',
      `sandbox ${box.id}'s workspace archive is over its cap (files over ${options.maxBytes} bytes)`,
    );
  if (result.exitCode !== 0)
    throw new IronClawError(
      'EXEC_FAILED',
      `cannot read sandbox ${box.id}'s workspace: the box's tar ${result.signal ?? `exit code ${result.exitCode}`}: ${stderr.text() || 'tar printed nothing'} (a file changing while it is read makes tar fail: let what runs in the box finish, then try again)`,
    );
  reader.end();
  return tree;
}
