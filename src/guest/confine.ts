import { lstat, readlink } from 'node:fs/promises';
import { posix } from 'node:path';
import { IronClawError } from '../core/errors.js';
import { FILE_ROOTS, isWithin, resolveSandboxPath } from '../core/sandbox-path.js';
import { fsPath, shownPath } from './byte-path.js';

const MAX_LINK_HOPS = 40;

/**
 * A path from the host, made absolute and checked twice: lexically, and again after following
 * every symbolic link on it, dangling ones included, so a link planted in the workspace cannot
 * lead a file operation out of the file roots. With `followFinal: false` the last component is
 * taken as it is (stat and remove act on a link itself, not on what it points to).
 *
 * The guest runs with the box's own rights, so this guards the API's meaning, not the host: a
 * box that swaps a link between check and use only reaches what it could reach anyway.
 *
 * `path` and the result are byte strings (byte-path.ts), so names that are not UTF-8 work too.
 */
export async function confinePath(
  path: string,
  options: { followFinal?: boolean } = {},
): Promise<string> {
  const lexical = resolveSandboxPath(path);
  if (!lexical.ok) {
    // Say it in the caller's spelling: the same check on the path as text.
    const shown = resolveSandboxPath(shownPath(path));
    throw new IronClawError(lexical.code, shown.ok ? lexical.message : shown.message);
  }
  const absolute = lexical.value;
  const real =
    options.followFinal === false && !FILE_ROOTS.includes(absolute as (typeof FILE_ROOTS)[number])
      ? posix.join(await resolveLinks(posix.dirname(absolute)), posix.basename(absolute))
      : await resolveLinks(absolute);
  if (!FILE_ROOTS.some((root) => isWithin(real, root))) {
    throw new IronClawError(
      'PATH_OUTSIDE_SANDBOX',
      `path ${JSON.stringify(shownPath(path))} leads through a symbolic link to ${shownPath(real)}, outside the sandbox's files`,
    );
  }
  return absolute;
}

/** Like realpath, but a missing tail is kept as written and dangling links are followed too. */
async function resolveLinks(absolute: string): Promise<string> {
  const parts = absolute.split('/').filter(Boolean);
  let current = '/';
  let hops = 0;
  while (parts.length > 0) {
    const part = parts.shift() ?? '';
    if (part === '.') continue;
    if (part === '..') {
      current = posix.dirname(current);
      continue;
    }
    const next = posix.join(current, part);
    const info = await lstat(fsPath(next)).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return undefined;
      throw error;
    });
    if (!info?.isSymbolicLink()) {
      current = next;
      continue;
    }
    if (++hops > MAX_LINK_HOPS)
      throw new IronClawError('FILE_ERROR', `too many symbolic links under ${shownPath(absolute)}`);
    const target = (await readlink(fsPath(next), { encoding: 'buffer' })).toString('latin1');
    parts.unshift(...target.split('/').filter(Boolean));
    if (target.startsWith('/')) current = '/';
  }
  return current;
}
