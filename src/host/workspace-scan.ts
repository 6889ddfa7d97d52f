import { lstat, readdir, readFile, readlink, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { IronClawError, unwrap } from '../core/errors.js';
import {
  compileIgnoreRules,
  DEFAULT_EXCLUDES,
  IGNORE_FILE,
  type IgnoreRule,
  matchIgnoreRule,
} from '../core/ignore-rules.js';
import type { WorkspaceEntry } from '../core/workspace-changes.js';
import { formatBytes } from '../core/units.js';

export interface ScanOptions {
  /** Cap on the bytes of the files copied in. */
  maxBytes: number;
  /** Cap on the number of paths copied in. */
  maxEntries: number;
  /** Patterns excluded besides the defaults and DIR/.ironclawignore. */
  exclude?: readonly string[];
  /** Exclude .git, .env and .env.* (the default). */
  defaultExcludes?: boolean;
}

/** What a copy-in of a directory will send: the paths (sizes from lstat; no hashes yet). */
export interface WorkspaceScan {
  /** The directory's real path (symlinks in DIR's own path resolved once, here). */
  dir: string;
  entries: WorkspaceEntry[];
  /** Every exclusion in force, as written: recorded so that the diff ignores the same paths. */
  patterns: string[];
  rules: IgnoreRule[];
  /** Paths left out, with the pattern that did it (directories once, not their contents). */
  excluded: { path: string; pattern: string }[];
  /** Paths that cannot be copied in (sockets, fifos, devices), with why. */
  skipped: { path: string; reason: string }[];
  totalBytes: number;
}

/** The exclusion rules of a workspace: defaults, the caller's, then DIR/.ironclawignore. */
export async function workspaceRules(
  dir: string,
  options: Pick<ScanOptions, 'exclude' | 'defaultExcludes'>,
): Promise<{ patterns: string[]; rules: IgnoreRule[] }> {
  const patterns = [
    ...(options.defaultExcludes === false ? [] : DEFAULT_EXCLUDES),
    ...(options.exclude ?? []),
  ];
  const rules = unwrap(compileIgnoreRules(patterns, 'exclude'));
  const file = join(dir, IGNORE_FILE);
  const info = await lstat(file).catch(() => undefined);
  if (info?.isFile()) {
    if (info.size > 64 * 1024)
      throw new IronClawError('INVALID_ARGUMENT', `${file} is over 64 KiB; keep it to patterns`);
    const lines = (await readFile(file, 'utf8')).split('\n');
    rules.push(...unwrap(compileIgnoreRules(lines, file)));
    patterns.push(...lines.map((line) => line.trim()).filter((l) => l && !l.startsWith('#')));
  }
  return { patterns, rules };
}

/**
 * Walks `dir` without following symlinks, leaving out what the rules exclude, and checks the
 * caps before anything is copied: over them is WORKSPACE_TOO_LARGE naming the largest parts.
 */
export async function scanWorkspace(
  dirGiven: string,
  options: ScanOptions,
): Promise<WorkspaceScan> {
  const dir = await realpath(dirGiven).catch((error: unknown) => {
    throw new IronClawError('INVALID_ARGUMENT', `workspace ${dirGiven} cannot be read`, {
      cause: error,
    });
  });
  if (!(await lstat(dir)).isDirectory())
    throw new IronClawError('INVALID_ARGUMENT', `workspace ${dirGiven} is not a directory`);
  const { patterns, rules } = await workspaceRules(dir, options);
  const scan: WorkspaceScan = {
    dir,
    entries: [],
    patterns,
    rules,
    excluded: [],
    skipped: [],
    totalBytes: 0,
  };
  await walk(scan, '', options);
  if (scan.totalBytes > options.maxBytes) {
    throw new IronClawError(
      'WORKSPACE_TOO_LARGE',
      `workspace ${dir} holds ${formatBytes(scan.totalBytes)} in ${scan.entries.length} paths, over the cap of ${formatBytes(options.maxBytes)}; largest: ${largest(scan.entries)}. Exclude paths in ${join(dir, IGNORE_FILE)} (one pattern a line, e.g. node_modules/) or raise the cap (--workspace-max, or maxBytes)`,
    );
  }
  return scan;
}

async function walk(scan: WorkspaceScan, relative: string, options: ScanOptions): Promise<void> {
  const names = (await readdir(join(scan.dir, relative))).sort();
  for (const name of names) {
    const path = relative === '' ? name : `${relative}/${name}`;
    const full = join(scan.dir, path);
    const info = await lstat(full);
    const rule = matchIgnoreRule(scan.rules, path, info.isDirectory());
    if (rule) {
      scan.excluded.push({ path, pattern: rule.pattern });
      continue;
    }
    if (scan.entries.length >= options.maxEntries)
      throw new IronClawError(
        'WORKSPACE_TOO_LARGE',
        `workspace ${scan.dir} has more than ${options.maxEntries} paths; exclude some in ${join(scan.dir, IGNORE_FILE)}`,
      );
    const mode = info.mode & 0o777;
    if (info.isDirectory()) {
      scan.entries.push({ path, type: 'directory', mode, size: 0 });
      await walk(scan, path, options);
    } else if (info.isSymbolicLink()) {
      scan.entries.push({ path, type: 'symlink', mode, size: 0, target: await readlink(full) });
    } else if (info.isFile()) {
      scan.entries.push({ path, type: 'file', mode, size: info.size });
      scan.totalBytes += info.size;
    } else {
      scan.skipped.push({ path, reason: 'not a file, directory or symlink' });
    }
  }
}

/** The five largest top-level parts, "node_modules (1.2 GiB), ...". */
function largest(entries: readonly WorkspaceEntry[]): string {
  const sizes = new Map<string, number>();
  for (const entry of entries) {
    const top = entry.path.split('/')[0] as string;
    sizes.set(top, (sizes.get(top) ?? 0) + entry.size);
  }
  return [...sizes]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5)
    .map(([name, size]) => `${name} (${formatBytes(size)})`)
    .join(', ');
}
