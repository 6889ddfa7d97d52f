import { isUtf8 } from 'node:buffer';
import { IronClawError } from '../core/errors.js';
import { resolveSandboxPath } from '../core/sandbox-path.js';

/*
 * Files of any size go in and out of a box as chunks that each fit a frame: reads at offsets,
 * writes at offsets, a few of them in flight at once.
 */

/**
 * A path in the box: text, or the bytes of a name that is not valid UTF-8 (as `list` reports it
 * in `nameBytes` and `pathBytes`).
 */
export type SandboxPath = string | Uint8Array;

/** One chunk of a file, as readFileChunk returns it. */
export interface FileChunk {
  data: Buffer;
  /** The file's size when the chunk was read. */
  size: number;
  /** More of the file lies past this chunk. */
  truncated: boolean;
}

/**
 * Bytes per file request, and how many are in flight at once: big enough that a round trip is
 * cheap beside it, small enough that encoding one (base64 in JSON) does not stall either side.
 */
export const FILE_CHUNK_BYTES = 1024 * 1024;
const CHUNKS_IN_FLIGHT = 4;

/**
 * Writes `data` through `write`, one chunk at a time. The first chunk creates or truncates the
 * file (unless `offset` is given) and is answered before the rest, which go at their own offsets,
 * a few in flight, so their order is free. `mode` is set last: a read-only mode set first would
 * refuse the later writes.
 */
export async function writeInChunks(
  data: string | Uint8Array | AsyncIterable<Uint8Array>,
  options: {
    offset?: number;
    mode?: number;
    write: (chunk: Buffer, at: number | undefined, mode?: number) => Promise<unknown>;
  },
): Promise<void> {
  const { write } = options;
  const chunks = chunksOf(data, FILE_CHUNK_BYTES)[Symbol.asyncIterator]();
  const first = await chunks.next();
  const firstChunk = first.done ? Buffer.alloc(0) : first.value;
  let offset = options.offset ?? 0;
  const rest = !first.done;
  await write(firstChunk, options.offset, rest ? undefined : options.mode);
  if (!rest) return;
  offset += firstChunk.length;
  const inFlight = new Set<Promise<unknown>>();
  try {
    for (let next = await chunks.next(); !next.done; next = await chunks.next()) {
      const sent = write(next.value, offset);
      offset += next.value.length;
      inFlight.add(sent);
      void sent.then(
        () => inFlight.delete(sent),
        () => undefined,
      );
      if (inFlight.size >= CHUNKS_IN_FLIGHT) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  } catch (error) {
    await Promise.allSettled(inFlight);
    throw error;
  }
  if (options.mode !== undefined) await write(Buffer.alloc(0), offset, options.mode);
}

/**
 * A file's chunks in order, read through `read` (one chunk at an offset), with a few reads ahead
 * in flight. `onSize` sees the size the first answer gives, before anything is yielded.
 */
export async function* readInChunks(
  read: (offset: number) => Promise<FileChunk>,
  onSize?: (size: number) => void,
): AsyncGenerator<Buffer> {
  const first = await read(0);
  onSize?.(first.size);
  const ahead: { at: number; chunk: Promise<FileChunk> }[] = [];
  try {
    let chunk = first;
    let offset = 0;
    for (;;) {
      if (chunk.data.length > 0) yield chunk.data;
      offset += chunk.data.length;
      if (!chunk.truncated || chunk.data.length === 0) return;
      // Reads ahead within the size last seen; a chunk that came back short (the file
      // changed) makes the reads ahead at the wrong offsets go to waste, never into the data.
      if (ahead[0]?.at !== offset) {
        await Promise.allSettled(ahead.splice(0).map((entry) => entry.chunk));
      }
      let at = ahead.at(-1)?.at ?? offset - FILE_CHUNK_BYTES;
      while (ahead.length < CHUNKS_IN_FLIGHT && at + FILE_CHUNK_BYTES < chunk.size) {
        at += FILE_CHUNK_BYTES;
        const early = read(at);
        early.catch(() => undefined); // its failure is met when its turn comes
        ahead.push({ at, chunk: early });
      }
      const next = ahead.shift();
      chunk = await (next?.chunk ?? read(offset));
    }
  } finally {
    await Promise.allSettled(ahead.map((entry) => entry.chunk));
  }
}

/** A path as the guest API takes it, checked lexically here first. */
export function wirePath(path: SandboxPath): { path: string; pathEncoding?: 'base64' } {
  if (typeof path !== 'string' && isUtf8(path)) return wirePath(Buffer.from(path).toString());
  // A byte path is checked as its latin1 string: one character per byte, `/` and `.` intact.
  const text = typeof path === 'string' ? path : Buffer.from(path).toString('latin1');
  const resolved = resolveSandboxPath(text);
  if (!resolved.ok) throw new IronClawError(resolved.code, resolved.message);
  return typeof path === 'string'
    ? { path }
    : { path: Buffer.from(path).toString('base64'), pathEncoding: 'base64' };
}

export function displayPath(path: SandboxPath): string {
  return typeof path === 'string' ? path : Buffer.from(path).toString();
}

/** Data as chunks of at most `size` bytes. */
async function* chunksOf(
  data: string | Uint8Array | AsyncIterable<Uint8Array>,
  size: number,
): AsyncGenerator<Buffer> {
  if (typeof data === 'string' || data instanceof Uint8Array) {
    const bytes = Buffer.from(data);
    for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
    return;
  }
  let held: Buffer[] = [];
  let heldBytes = 0;
  for await (const piece of data) {
    let rest = Buffer.isBuffer(piece)
      ? piece
      : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    while (heldBytes + rest.length >= size) {
      const take = size - heldBytes;
      yield Buffer.concat([...held, rest.subarray(0, take)]);
      held = [];
      heldBytes = 0;
      rest = rest.subarray(take);
    }
    if (rest.length > 0) {
      held.push(rest);
      heldBytes += rest.length;
    }
  }
  if (heldBytes > 0) yield Buffer.concat(held);
}
