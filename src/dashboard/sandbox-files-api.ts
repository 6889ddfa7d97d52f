import * as z from 'zod/mini';
import { IronClawError } from '../core/errors.js';
import type { FileInfo } from '../protocol/guest-api.js';
import type { Sandbox } from '../runtime/sandbox.js';

/** Most bytes of a file the page shows: it is for a look, not for downloads. */
export const VIEW_MAX_BYTES = 256 * 1024;

/** Where in a sandbox: a path as text, or the base64 bytes of one that is not UTF-8. */
const FileQuerySchema = z.object({
  sandbox: z.string().check(z.minLength(1), z.maxLength(200)),
  path: z.optional(z.string().check(z.minLength(1), z.maxLength(4096))),
  pathBytes: z.optional(z.base64().check(z.maxLength(8192))),
});

export interface FileQuery {
  sandbox: string;
  path: string | Buffer;
}

/** The query of a files request; no path means the workspace. */
export function parseFileQuery(params: URLSearchParams): FileQuery {
  const parsed = FileQuerySchema.safeParse(Object.fromEntries(params));
  if (!parsed.success)
    throw new IronClawError(
      'INVALID_ARGUMENT',
      `bad file query ${JSON.stringify(params.toString().slice(0, 200))}: give sandbox=ID and path=/absolute/path (or pathBytes=BASE64)`,
    );
  const { sandbox, path, pathBytes } = parsed.data;
  return {
    sandbox,
    path: pathBytes === undefined ? (path ?? '/workspace') : Buffer.from(pathBytes, 'base64'),
  };
}

export interface Listing {
  entries: FileInfo[];
  omitted: number;
}

/** A directory, folders first, then by name. */
export async function listFiles(
  sandbox: Sandbox,
  path: string | Buffer,
  signal: AbortSignal,
): Promise<Listing> {
  const { entries, omitted } = await sandbox.listDir(path, { signal });
  entries.sort(
    (a, b) =>
      Number(b.type === 'directory') - Number(a.type === 'directory') ||
      a.name.localeCompare(b.name),
  );
  return { entries, omitted: omitted ?? 0 };
}

export type FileView =
  | { kind: 'text'; text: string; size: number; truncated: boolean }
  | { kind: 'binary'; size: number };

/**
 * The start of a file, VIEW_MAX_BYTES at most, as text; a file with a NUL byte or invalid UTF-8
 * in it is binary and is not shown.
 */
export async function viewFile(
  sandbox: Sandbox,
  path: string | Buffer,
  signal: AbortSignal,
): Promise<FileView> {
  const chunk = await sandbox.readFileChunk(path, { signal, maxBytes: VIEW_MAX_BYTES });
  // A cut may split a character: its bytes at the end are left out rather than called invalid.
  const bytes = chunk.truncated ? withoutSplitCharacter(chunk.data) : chunk.data;
  if (bytes.includes(0)) return { kind: 'binary', size: chunk.size };
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return { kind: 'text', text, size: chunk.size, truncated: chunk.truncated };
  } catch {
    return { kind: 'binary', size: chunk.size };
  }
}

/** The bytes up to the start of a last multi-byte character that the cut left incomplete. */
function withoutSplitCharacter(data: Buffer): Buffer {
  for (let back = 1; back <= Math.min(3, data.length); back++) {
    const byte = data[data.length - back] ?? 0;
    if ((byte & 0xc0) === 0x80) continue; // a continuation byte: look further back
    if (byte < 0x80) return data;
    const needed = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : 2;
    return needed > back ? data.subarray(0, data.length - back) : data;
  }
  return data;
}
