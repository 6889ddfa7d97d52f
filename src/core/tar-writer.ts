/*
 * Tar headers as POSIX.1-2001 (pax) writes them: a ustar header, preceded by a pax extended
 * header when a name or link target does not fit or is not ASCII. Pure: the caller streams
 * the file data and pads it with `tarPadding`.
 */

export const BLOCK = 512;
const MAX_OCTAL_SIZE = 0o77777777777;

export interface TarHeaderInput {
  /** Path as it goes into the archive; not checked here (tests build hostile archives with it). */
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'hardlink' | 'fifo' | 'raw';
  mode: number;
  size: number;
  linkTarget?: string;
  mtime?: number;
  /** For type 'raw': the typeflag byte to write. */
  typeflag?: string;
}

const TYPEFLAGS: Record<Exclude<TarHeaderInput['type'], 'raw'>, string> = {
  file: '0',
  directory: '5',
  symlink: '2',
  hardlink: '1',
  fifo: '6',
};

/** The header block(s) of one entry: a pax header first when the names need one. */
export function encodeTarHeader(input: TarHeaderInput): Buffer {
  const name =
    input.type === 'directory' && !input.path.endsWith('/') ? `${input.path}/` : input.path;
  const link = input.linkTarget ?? '';
  const records: string[] = [];
  if (!fitsUstar(name)) records.push(paxRecord('path', name));
  if (!fitsUstar(link)) records.push(paxRecord('linkpath', link));
  // 11 octal digits hold sizes below 8 GiB; a larger one goes in the pax header.
  const bigSize = input.size > MAX_OCTAL_SIZE;
  if (bigSize) records.push(paxRecord('size', String(input.size)));
  const typeflag = input.type === 'raw' ? (input.typeflag ?? '0') : TYPEFLAGS[input.type];
  const main = ustarBlock({
    name: fitsUstar(name) ? name : 'PaxHeader-path',
    mode: input.mode,
    size: bigSize ? 0 : input.size,
    mtime: input.mtime ?? 0,
    typeflag,
    linkname: fitsUstar(link) ? link : '',
  });
  if (records.length === 0) return main;
  const body = Buffer.from(records.join(''));
  const pax = ustarBlock({
    name: 'PaxHeader',
    mode: 0o644,
    size: body.length,
    mtime: 0,
    typeflag: 'x',
    linkname: '',
  });
  return Buffer.concat([pax, body, Buffer.alloc(tarPadding(body.length)), main]);
}

/** Zero bytes that pad `size` bytes of data to a whole block. */
export function tarPadding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** Two zero blocks end an archive. */
export function tarEnd(): Buffer {
  return Buffer.alloc(2 * BLOCK);
}

function fitsUstar(text: string): boolean {
  return Buffer.byteLength(text) < 100 && /^[\x20-\x7e]*$/.test(text);
}

/** "<length> <key>=<value>\n", where the length counts its own digits. */
export function paxRecord(key: string, value: string): string {
  const rest = ` ${key}=${value}\n`;
  const restBytes = Buffer.byteLength(rest);
  let length = restBytes + String(restBytes).length;
  if (String(length).length + restBytes !== length) length = restBytes + String(length).length;
  return `${length}${rest}`;
}

interface UstarFields {
  name: string;
  mode: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
}

function ustarBlock(fields: UstarFields): Buffer {
  const block = Buffer.alloc(BLOCK);
  block.write(fields.name, 0, 100, 'utf8');
  block.write(octal(fields.mode & 0o7777, 8), 100, 'ascii');
  block.write(octal(0, 8), 108, 'ascii');
  block.write(octal(0, 8), 116, 'ascii');
  block.write(octal(fields.size, 12), 124, 'ascii');
  block.write(octal(fields.mtime, 12), 136, 'ascii');
  block.write(fields.typeflag, 156, 1, 'ascii');
  block.write(fields.linkname, 157, 100, 'utf8');
  block.write('ustar\x0000', 257, 'ascii');
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return block;
}

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}
