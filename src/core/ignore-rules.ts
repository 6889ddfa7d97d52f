import type { Check } from './errors.js';

/*
 * Which paths of a workspace stay on the host: a subset of gitignore, documented as such.
 * - one pattern a line; blank lines and lines starting with # are skipped; trailing spaces cut
 * - `*` matches any run of characters but `/`, `?` one character but `/`, `**` any number of
 *   directories (`**\/x`, `a/**`, `a/**\/b`)
 * - a trailing `/` matches directories only
 * - a pattern with a `/` at its start or in its middle is anchored at the workspace's root;
 *   without one it matches a name at any depth
 * - what a pattern excludes, it excludes with everything below it
 * Not supported, and refused with the line named: negation (`!`) and backslash escapes.
 * Brackets (`[abc]`) are taken literally. Only the .ironclawignore at the root is read.
 */

/** Excluded unless the caller says otherwise: git's data and environment files (secrets). */
export const DEFAULT_EXCLUDES: readonly string[] = ['.git', '.env', '.env.*'];

export const IGNORE_FILE = '.ironclawignore';

export interface IgnoreRule {
  /** The pattern as written, and where: shown when a path is reported as excluded. */
  pattern: string;
  source: string;
  regex: RegExp;
  directoryOnly: boolean;
}

/** Compiles patterns (from options, or the lines of an ignore file) into rules. */
export function compileIgnoreRules(lines: readonly string[], source: string): Check<IgnoreRule[]> {
  const rules: IgnoreRule[] = [];
  for (const [index, raw] of lines.entries()) {
    const line = raw.replace(/\r$/, '').replace(/ +$/, '');
    if (line === '' || line.startsWith('#')) continue;
    const where = `${source}${lines.length > 1 ? ` line ${index + 1}` : ''}`;
    if (line.startsWith('!') || line.includes('\\'))
      return {
        ok: false,
        code: 'INVALID_ARGUMENT',
        message: `${where}: ${JSON.stringify(line)} uses ${line.startsWith('!') ? 'negation (!)' : 'a backslash escape'}, which .ironclawignore does not support; list only what to exclude`,
      };
    const directoryOnly = line.endsWith('/');
    let body = directoryOnly ? line.slice(0, -1) : line;
    const anchored = body.slice(0, -1).includes('/') || body.startsWith('/');
    if (body.startsWith('/')) body = body.slice(1);
    if (body === '' || body.split('/').some((part) => part === '..' || part === '.'))
      return {
        ok: false,
        code: 'INVALID_ARGUMENT',
        message: `${where}: ${JSON.stringify(line)} is not a pattern of a path inside the workspace`,
      };
    const regex = new RegExp(`^${anchored ? '' : '(?:.*/)?'}${globToRegex(body)}$`);
    rules.push({ pattern: line, source: where, regex, directoryOnly });
  }
  return { ok: true, value: rules };
}

function globToRegex(glob: string): string {
  let out = '';
  for (let index = 0; index < glob.length; index += 1) {
    const char = glob[index] as string;
    if (glob.startsWith('**/', index)) {
      out += '(?:.*/)?';
      index += 2;
    } else if (glob.startsWith('/**', index) && index + 3 === glob.length) {
      out += '/.*';
      index += 2;
    } else if (glob.startsWith('**', index)) {
      out += '.*';
      index += 1;
    } else if (char === '*') out += '[^/]*';
    else if (char === '?') out += '[^/]';
    else out += char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return out;
}

/** The rule that excludes `path` itself (not looking at its parents), if any. */
export function matchIgnoreRule(
  rules: readonly IgnoreRule[],
  path: string,
  isDirectory: boolean,
): IgnoreRule | undefined {
  return rules.find((rule) => (!rule.directoryOnly || isDirectory) && rule.regex.test(path));
}

/** The rule that excludes `path` or one of its parent directories, if any. */
export function excludedBy(
  rules: readonly IgnoreRule[],
  path: string,
  isDirectory: boolean,
): IgnoreRule | undefined {
  const parts = path.split('/');
  for (let depth = 1; depth < parts.length; depth += 1) {
    const rule = matchIgnoreRule(rules, parts.slice(0, depth).join('/'), true);
    if (rule) return rule;
  }
  return matchIgnoreRule(rules, path, isDirectory);
}
