import type { Check } from './errors.js';

/** Longest path and path component an archive entry may have (Linux's PATH_MAX and NAME_MAX). */
export const MAX_PATH_BYTES = 4096;
export const MAX_NAME_BYTES = 255;

/**
 * The relative path of an archive entry, normalised ("./a/b/" → "a/b"; "./" → "", the root),
 * or why it is refused: absolute, a ".." or "." component, an empty component, a NUL byte, or
 * a name too long for Linux. Lexical only; the reader checks parents against earlier entries.
 */
export function normaliseArchivePath(raw: string): Check<string> {
  const refuse = (why: string): Check<string> => ({
    ok: false,
    code: 'ARCHIVE_UNSAFE',
    message: `archive entry ${JSON.stringify(raw.slice(0, 300))} ${why}`,
  });
  if (raw.includes('\0')) return refuse('contains a NUL byte');
  if (raw.startsWith('/')) return refuse('is an absolute path');
  if (Buffer.byteLength(raw) > MAX_PATH_BYTES) return refuse(`is over ${MAX_PATH_BYTES} bytes`);
  let path = raw;
  while (path.startsWith('./')) path = path.slice(2);
  if (path.endsWith('/')) path = path.slice(0, -1);
  if (path === '' || path === '.') return { ok: true, value: '' };
  for (const part of path.split('/')) {
    if (part === '..') return refuse('has a ".." component');
    if (part === '' || part === '.') return refuse('has an empty or "." component');
    if (Buffer.byteLength(part) > MAX_NAME_BYTES)
      return refuse(`has a component over ${MAX_NAME_BYTES} bytes`);
  }
  return { ok: true, value: path };
}

/** "a/b/c" → "a/b"; "a" → "" (the root). */
export function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash === -1 ? '' : path.slice(0, slash);
}
