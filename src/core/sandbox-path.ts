import { posix } from 'node:path';
import type { Check } from './errors.js';

/** The box's one writable directory; relative paths are taken from here. */
export const WORKSPACE = '/workspace';

/** Directories that file operations may touch inside a box. */
export const FILE_ROOTS = [WORKSPACE, '/tmp'] as const;

export function isWithin(path: string, root: string): boolean {
  return path === root || path.startsWith(`${root}/`);
}

/**
 * Resolves a path given by a client to an absolute path inside the box's file roots.
 * Lexical only: the guest checks symlinks again against the real filesystem.
 */
export function resolveSandboxPath(path: string): Check<string> {
  if (path.includes('\0')) {
    return {
      ok: false,
      code: 'PATH_OUTSIDE_SANDBOX',
      message: 'invalid path: it contains a NUL byte',
    };
  }
  const resolved = posix.resolve(WORKSPACE, path);
  if (!FILE_ROOTS.some((root) => isWithin(resolved, root))) {
    return {
      ok: false,
      code: 'PATH_OUTSIDE_SANDBOX',
      message: `path ${JSON.stringify(path)} resolves to ${resolved}, outside the sandbox's files; use a path under ${FILE_ROOTS.join(' or ')}`,
    };
  }
  return { ok: true, value: resolved };
}
