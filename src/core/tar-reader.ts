import { normaliseArchivePath, parentOf, MAX_PATH_BYTES } from './archive-path.js';
import { IronClawError, type ErrorCode } from './errors.js';
import { BLOCK, tarPadding } from './tar-writer.js';
import { formatBytes } from './units.js';

/*
 * A streaming reader of tar archives that come from a box, so hostile: ustar, pax ('x', 'g')
 * and GNU long names ('L', 'K'). It never touches a filesystem; it turns bytes into entries
 * and refuses, with a typed error, anything a real `tar -c` of a directory would not make:
 * absolute paths, ".." or "." components, an entry whose parent is not an earlier directory
 * entry (so nothing can go through a symlink or a file), the same path twice, data on a
 * directory or link, headers with bad checksums, and sizes over the caps. After an error the
 * reader is poisoned.
 */

export type TarEntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';

export interface TarEntry {
  /** Normalised relative path ("a/b"), never "" (the root entry is checked, not returned). */
  path: string;
  type: TarEntryType;
  /** Permission bits (mode & 0o7777). */
  mode: number;
  size: number;
  /** Symlink or hard link target, as written in the archive. */
  linkTarget?: string;
  /** For 'other': the typeflag, for the report (3 char device, 4 block device, 6 fifo). */
  typeflag?: string;
}

export type TarEvent =
  { kind: 'entry'; entry: TarEntry } | { kind: 'data'; data: Buffer } | { kind: 'entry-end' };

export interface TarReaderLimits {
  /** Total bytes of file data (default 256 MiB). */
  maxDataBytes?: number;
  /** Entries (default 100,000). */
  maxEntries?: number;
  /** One pax or GNU long-name header's body (default 64 KiB). */
  maxMetaBytes?: number;
}

type State =
  | { kind: 'header' }
  | { kind: 'meta'; typeflag: string; size: number; padded: number }
  | { kind: 'data'; remaining: number; padding: number }
  | { kind: 'end' };

const utf8 = new TextDecoder('utf-8', { fatal: true });

export class TarReader {
  readonly #maxData: number;
  readonly #maxEntries: number;
  readonly #maxMeta: number;
  #pending: Buffer = Buffer.alloc(0);
  #state: State = { kind: 'header' };
  #zeroBlocks = 0;
  #entries = 0;
  #dataBytes = 0;
  /** Pax and GNU values for the next entry. */
  #next: { path?: string; linkTarget?: string; size?: number } = {};
  /** Every path seen, with its type: parents must be earlier directories. */
  readonly #seen = new Map<string, TarEntryType>([['', 'directory']]);
  #failed: IronClawError | undefined;

  constructor(limits: TarReaderLimits = {}) {
    this.#maxData = limits.maxDataBytes ?? 256 * 1024 * 1024;
    this.#maxEntries = limits.maxEntries ?? 100_000;
    this.#maxMeta = limits.maxMetaBytes ?? 64 * 1024;
  }

  /** True once the end-of-archive blocks were read. */
  get ended(): boolean {
    return this.#state.kind === 'end';
  }

  /** Feeds bytes in; returns the events they complete, in order. Throws on a bad archive. */
  push(chunk: Uint8Array): TarEvent[] {
    if (this.#failed) throw this.#failed;
    if (this.#state.kind === 'end') return [];
    this.#pending =
      this.#pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.#pending, chunk]);
    const events: TarEvent[] = [];
    try {
      this.#drain(events);
    } catch (error) {
      this.#failed =
        error instanceof IronClawError
          ? error
          : new IronClawError('ARCHIVE_INVALID', String(error), { cause: error });
      throw this.#failed;
    }
    return events;
  }

  /** The stream ended: throws unless the archive was complete. */
  end(): void {
    if (this.#failed) throw this.#failed;
    if (this.#state.kind !== 'end')
      throw this.#fail('ARCHIVE_INVALID', 'the archive ended early (no end-of-archive blocks)');
  }

  #drain(events: TarEvent[]): void {
    for (;;) {
      const state = this.#state;
      if (state.kind === 'end') {
        this.#pending = Buffer.alloc(0);
        return;
      }
      if (state.kind === 'data') {
        if (state.remaining > 0) {
          if (this.#pending.length === 0) return;
          const take = Math.min(state.remaining, this.#pending.length);
          events.push({ kind: 'data', data: this.#pending.subarray(0, take) });
          this.#pending = this.#pending.subarray(take);
          state.remaining -= take;
          continue;
        }
        if (this.#pending.length < state.padding) return;
        this.#pending = this.#pending.subarray(state.padding);
        events.push({ kind: 'entry-end' });
        this.#state = { kind: 'header' };
        continue;
      }
      if (state.kind === 'meta') {
        if (this.#pending.length < state.padded) return;
        this.#meta(state.typeflag, this.#pending.subarray(0, state.size));
        this.#pending = this.#pending.subarray(state.padded);
        this.#state = { kind: 'header' };
        continue;
      }
      if (this.#pending.length < BLOCK) return;
      const block = this.#pending.subarray(0, BLOCK);
      this.#pending = this.#pending.subarray(BLOCK);
      this.#header(block, events);
    }
  }

  #header(block: Buffer, events: TarEvent[]): void {
    if (block.every((byte) => byte === 0)) {
      this.#zeroBlocks += 1;
      if (this.#zeroBlocks === 2) this.#state = { kind: 'end' };
      return;
    }
    if (this.#zeroBlocks > 0) throw this.#fail('ARCHIVE_INVALID', 'a lone zero block');
    checkChecksum(block, this.#fail.bind(this));
    const typeflag = String.fromCharCode(block[156] ?? 0);
    const size = this.#number(block, 124, 12, 'size');
    if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
      if (size > this.#maxMeta)
        throw this.#fail(
          'ARCHIVE_INVALID',
          `a ${typeflag} header of ${size} bytes, over the cap of ${this.#maxMeta}`,
        );
      this.#state = { kind: 'meta', typeflag, size, padded: size + tarPadding(size) };
      return;
    }
    this.#entries += 1;
    if (this.#entries > this.#maxEntries)
      throw this.#fail('WORKSPACE_TOO_LARGE', `more than ${this.#maxEntries} entries`);
    const fail = this.#fail.bind(this);
    const next = this.#next;
    this.#next = {};
    const ustar = block.toString('latin1', 257, 263) === 'ustar\0';
    const rawPath =
      next.path ??
      (ustar && block[345] !== 0
        ? `${cString(block, 345, 155, fail)}/${cString(block, 0, 100, fail)}`
        : cString(block, 0, 100, fail));
    const linkTarget = next.linkTarget ?? cString(block, 157, 100, fail);
    const entrySize = next.size ?? size;
    const type = entryType(typeflag);
    if (type === undefined)
      throw this.#fail(
        'ARCHIVE_INVALID',
        `entry ${JSON.stringify(rawPath)} has type ${JSON.stringify(typeflag)}, which is not supported (sparse, multi-volume or other special entries)`,
      );
    if (type !== 'file' && entrySize !== 0)
      throw this.#fail('ARCHIVE_INVALID', `${type} entry ${JSON.stringify(rawPath)} has data`);
    const normal = normaliseArchivePath(rawPath);
    if (!normal.ok) throw this.#fail(normal.code, normal.message);
    const path = normal.value;
    if (path === '') {
      // "./" itself: its mode is the box's business, not the workspace's.
      if (type !== 'directory')
        throw this.#fail('ARCHIVE_UNSAFE', 'the archive root is not a directory');
      return;
    }
    if (this.#seen.has(path))
      throw this.#fail('ARCHIVE_UNSAFE', `entry ${JSON.stringify(path)} appears twice`);
    const parent = parentOf(path);
    const parentType = this.#seen.get(parent);
    if (parentType !== 'directory')
      throw this.#fail(
        'ARCHIVE_UNSAFE',
        parentType === undefined
          ? `entry ${JSON.stringify(path)} comes before its directory ${JSON.stringify(parent)}`
          : `entry ${JSON.stringify(path)} lies under ${JSON.stringify(parent)}, which is a ${parentType}, not a directory`,
      );
    this.#seen.set(path, type);
    if (type === 'file') {
      this.#dataBytes += entrySize;
      if (this.#dataBytes > this.#maxData)
        throw this.#fail(
          'WORKSPACE_TOO_LARGE',
          `its files hold more than the cap of ${formatBytes(this.#maxData)}; remove files in the box, or give the workspace a larger cap`,
        );
    }
    const entry: TarEntry = {
      path,
      type,
      mode: this.#number(block, 100, 8, 'mode') & 0o7777,
      size: entrySize,
    };
    if (type === 'symlink' || type === 'hardlink') {
      if (linkTarget === '' || linkTarget.includes('\0') || linkTarget.length > MAX_PATH_BYTES)
        throw this.#fail('ARCHIVE_UNSAFE', `link ${JSON.stringify(path)} has a bad target`);
      entry.linkTarget = linkTarget;
    }
    if (type === 'other') entry.typeflag = typeflag;
    events.push({ kind: 'entry', entry });
    this.#state = { kind: 'data', remaining: entrySize, padding: tarPadding(entrySize) };
  }

  #meta(typeflag: string, body: Buffer): void {
    if (typeflag === 'L' || typeflag === 'K') {
      const value = decode(body, this.#fail.bind(this)).replace(/\0+$/, '');
      if (typeflag === 'L') this.#next.path = value;
      else this.#next.linkTarget = value;
      return;
    }
    const records = parsePax(decode(body, this.#fail.bind(this)), this.#fail.bind(this));
    // A global header's values would apply to every later entry: none that matter are honoured.
    if (typeflag === 'g') return;
    for (const [key, value] of records) {
      if (key.startsWith('GNU.sparse'))
        throw this.#fail('ARCHIVE_INVALID', 'sparse files are not supported');
      if (key === 'path') this.#next.path = value;
      if (key === 'linkpath') this.#next.linkTarget = value;
      if (key === 'size') {
        if (!/^\d{1,16}$/.test(value)) throw this.#fail('ARCHIVE_INVALID', 'a bad pax size');
        this.#next.size = Number(value);
      }
    }
  }

  #number(block: Buffer, offset: number, length: number, what: string): number {
    const field = block.subarray(offset, offset + length);
    let value: number;
    if (((field[0] ?? 0) & 0x80) !== 0) {
      // GNU base-256: big-endian, the top bit of the first byte marks it; negative is refused.
      if (((field[0] ?? 0) & 0x40) !== 0) throw this.#fail('ARCHIVE_INVALID', `a negative ${what}`);
      value = (field[0] ?? 0) & 0x3f;
      for (const byte of field.subarray(1)) value = value * 256 + byte;
    } else {
      const text = field
        .toString('latin1')
        .replace(/[\0 ]+$/, '')
        .replace(/^ +/, '');
      if (!/^[0-7]*$/.test(text))
        throw this.#fail('ARCHIVE_INVALID', `a bad ${what} field ${JSON.stringify(text)}`);
      value = text === '' ? 0 : parseInt(text, 8);
    }
    if (!Number.isSafeInteger(value)) throw this.#fail('ARCHIVE_INVALID', `a ${what} too large`);
    return value;
  }

  #fail(code: ErrorCode, message: string): IronClawError {
    return new IronClawError(code, `the box's workspace archive was refused: ${message}`);
  }
}

function entryType(typeflag: string): TarEntryType | undefined {
  switch (typeflag) {
    case '0':
    case '\0':
    case '7':
      return 'file';
    case '1':
      return 'hardlink';
    case '2':
      return 'symlink';
    case '5':
      return 'directory';
    case '3':
    case '4':
    case '6':
      return 'other';
    default:
      return undefined;
  }
}

function checkChecksum(
  block: Buffer,
  fail: (code: ErrorCode, message: string) => IronClawError,
): void {
  const stored = parseInt(block.toString('latin1', 148, 156).replace(/[\0 ]+/g, ''), 8);
  let unsigned = 0;
  let signed = 0;
  for (let index = 0; index < BLOCK; index += 1) {
    const byte = index >= 148 && index < 156 ? 0x20 : (block[index] ?? 0);
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  if (stored !== unsigned && stored !== signed)
    throw fail('ARCHIVE_INVALID', 'a header with a bad checksum');
}

function cString(
  block: Buffer,
  offset: number,
  length: number,
  fail: (code: ErrorCode, message: string) => IronClawError,
): string {
  const field = block.subarray(offset, offset + length);
  const nul = field.indexOf(0);
  return decode(nul === -1 ? field : field.subarray(0, nul), fail);
}

function decode(body: Buffer, fail: (code: ErrorCode, message: string) => IronClawError): string {
  try {
    return utf8.decode(body);
  } catch {
    throw fail('ARCHIVE_INVALID', 'a name that is not UTF-8');
  }
}

/** "len key=value\n" records; every length must be exact. */
function parsePax(
  text: string,
  fail: (code: ErrorCode, message: string) => IronClawError,
): [string, string][] {
  const records: [string, string][] = [];
  const bytes = Buffer.from(text);
  let offset = 0;
  while (offset < bytes.length) {
    const space = bytes.indexOf(0x20, offset);
    const length = Number(bytes.toString('latin1', offset, space));
    if (space === -1 || !Number.isSafeInteger(length) || length <= space - offset)
      throw fail('ARCHIVE_INVALID', 'a malformed pax record');
    const record = bytes.subarray(space + 1, offset + length);
    if (offset + length > bytes.length || record.at(-1) !== 0x0a)
      throw fail('ARCHIVE_INVALID', 'a malformed pax record');
    const text = record.subarray(0, -1).toString('utf8');
    const equals = text.indexOf('=');
    if (equals <= 0) throw fail('ARCHIVE_INVALID', 'a malformed pax record');
    records.push([text.slice(0, equals), text.slice(equals + 1)]);
    offset += length;
  }
  return records;
}
