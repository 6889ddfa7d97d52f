import { isUtf8 } from 'node:buffer';

/*
 * A file name is bytes to the kernel, and need not be valid UTF-8. The guest holds paths as
 * "byte strings": latin1 strings with one character per byte, so `/`, `.` and `..` keep their
 * meaning for the lexical checks, every name round-trips, and Buffer.from(path, 'latin1') gives
 * the kernel exactly the bytes it named.
 */

/** The byte string of a path from the host: UTF-8 text, or base64 of its bytes. */
export function bytePath(path: string, encoding: 'utf8' | 'base64' = 'utf8'): string {
  return Buffer.from(path, encoding).toString('latin1');
}

/** What fs calls take: the path's bytes. */
export function fsPath(path: string): Buffer {
  return Buffer.from(path, 'latin1');
}

/** The path as text, for messages and for names that are valid UTF-8. */
export function shownPath(path: string): string {
  return Buffer.from(path, 'latin1').toString('utf8');
}

/** The path's text, and its bytes in base64 when they are not valid UTF-8 (so not that text). */
export function describeName(path: string): { text: string; bytes?: string } {
  const bytes = fsPath(path);
  return isUtf8(bytes)
    ? { text: bytes.toString('utf8') }
    : { text: bytes.toString('utf8'), bytes: bytes.toString('base64') };
}
