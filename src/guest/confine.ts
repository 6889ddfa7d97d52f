import { realpath } from 'node:fs/promises';
import { posix } from 'node:path';
import { IronClawError } from '../core/errors.js';
import { FILE_ROOTS, isWithin, resolveSandboxPath } from '../core/sandbox-path.js';

/**
 * A path from the host, made absolute and checked twice: lexically, and after following the
 * symlinks of its deepest existing ancestor, so a link planted in the workspace cannot lead a
 * file operation out of the file roots.
 */
export async function confinePath(path: string): Promise<string> {
  const lexical = resolveSandboxPath(path);
  if (!lexical.ok) throw new IronClawError(lexical.code, lexical.message);
  let existing = lexical.value;
  let rest = '';
  for (;;) {
    try {
      const real = await realpath(existing);
      const full = rest ? posix.join(real, rest) : real;
      if (!FILE_ROOTS.some((root) => isWithin(full, root))) {
        throw new IronClawError(
          'PATH_OUTSIDE_SANDBOX',
          `path ${JSON.stringify(path)} leads through a symbolic link to ${full}, outside the sandbox's files`,
        );
      }
      return lexical.value;
    } catch (error) {
      if (error instanceof IronClawError) throw error;
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || existing === '/') throw error;
      rest = rest ? posix.join(posix.basename(existing), rest) : posix.basename(existing);
      existing = posix.dirname(existing);
    }
  }
}
