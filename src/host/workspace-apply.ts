import { createHash, randomBytes } from 'node:crypto';
import {
  constants,
  lstat,
  mkdir,
  open,
  readlink,
  rename,
  rmdir,
  symlink,
  unlink,
} from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { IronClawError } from '../core/errors.js';
import type { WorkspaceChange, WorkspaceEntry } from '../core/workspace-changes.js';

/*
 * Writes a workspace's changes back into its host directory. Two phases: first every path the
 * apply touches is compared with the manifest (the host must still hold what was copied in,
 * and every parent must be a real directory, not a symlink); any difference refuses the whole
 * apply before a byte is written. Then each file is written atomically (a temporary file in the
 * same directory, fsync, rename) and nothing is ever opened through a symlink.
 */

export interface HostConflict {
  path: string;
  reason: string;
}

export interface ApplyReport {
  applied: { path: string; kind: WorkspaceChange['kind'] }[];
  /** Directories deleted in the box that still hold host files the box never had. */
  kept: { path: string; reason: string }[];
}

/** What the host holds at each path an apply would touch, against the manifest. */
export async function findHostConflicts(
  dir: string,
  changes: readonly WorkspaceChange[],
): Promise<HostConflict[]> {
  const conflicts: HostConflict[] = [];
  const created = new Set(
    changes
      .filter((c) => c.after?.type === 'directory' && c.before?.type !== 'directory')
      .map((c) => c.path),
  );
  const root = await lstat(dir).catch(() => undefined);
  if (!root?.isDirectory())
    return [{ path: '.', reason: `${dir} is no longer a directory (or is a symlink now)` }];
  for (const change of changes) {
    const parentProblem = await parentConflict(dir, change.path, created);
    if (parentProblem) {
      conflicts.push({ path: change.path, reason: parentProblem });
      continue;
    }
    const reason = await entryConflict(join(dir, change.path), change.before);
    if (reason) conflicts.push({ path: change.path, reason });
  }
  return conflicts;
}

/** Each parent must be a real directory on the host, or one this apply creates. */
async function parentConflict(
  dir: string,
  path: string,
  created: ReadonlySet<string>,
): Promise<string | undefined> {
  const parts = path.split('/');
  for (let depth = 1; depth < parts.length; depth += 1) {
    const parent = parts.slice(0, depth).join('/');
    const info = await lstat(join(dir, parent)).catch(() => undefined);
    if (info === undefined) {
      if (created.has(parent)) return undefined;
      return `its directory ${parent} was removed on the host since copy-in`;
    }
    if (info.isSymbolicLink())
      return `its directory ${parent} is a symlink on the host; apply never writes through one`;
    if (!info.isDirectory()) return `${parent} is not a directory on the host`;
  }
  return undefined;
}

async function entryConflict(
  full: string,
  expected: WorkspaceEntry | undefined,
): Promise<string | undefined> {
  const info = await lstat(full).catch(() => undefined);
  if (!expected)
    return info ? `was created on the host since copy-in (${describe(info)})` : undefined;
  if (!info) return `was deleted on the host since copy-in`;
  const type = typeOf(info);
  if (type !== expected.type)
    return `is now a ${describe(info)} on the host (it was a ${expected.type})`;
  if ((info.mode & 0o777) !== expected.mode)
    return `its mode changed on the host (${octal(expected.mode)} → ${octal(info.mode & 0o777)})`;
  if (type === 'symlink') {
    const target = await readlink(full);
    return target === expected.target
      ? undefined
      : `its target changed on the host (now ${JSON.stringify(target)})`;
  }
  if (type === 'file') {
    if (info.size !== expected.size)
      return `was modified on the host since copy-in (size ${expected.size} → ${info.size})`;
    const hash = await hashFile(full);
    return hash === expected.sha256
      ? undefined
      : 'was modified on the host since copy-in (its content differs)';
  }
  return undefined;
}

/**
 * Applies changes whose host side was checked by findHostConflicts. `contents` holds the new
 * bytes of every file added or modified. Deletions first (deepest first), then new
 * directories, files and symlinks (shallowest first), then modes (directories last, deepest
 * first, so that a read-only directory does not stop the writes below it).
 */
export async function writeChanges(
  dir: string,
  changes: readonly WorkspaceChange[],
  contents: ReadonlyMap<string, Buffer>,
): Promise<ApplyReport> {
  const report: ApplyReport = { applied: [], kept: [] };
  const removals = changes.filter((c) => c.kind === 'deleted' || c.kind === 'type');
  const kept = new Set<string>();
  for (const change of [...removals].sort((a, b) => byPath(b, a))) {
    const before = change.before as WorkspaceEntry;
    const full = await safePath(dir, change.path);
    if (before.type === 'directory') {
      try {
        await rmdir(full);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOTEMPTY') throw error;
        report.kept.push({
          path: change.path,
          reason:
            change.kind === 'deleted'
              ? 'deleted in the box, but on the host it holds files the box never had (excluded ones)'
              : `replaced by a ${change.after?.type ?? '?'} in the box, but on the host it holds files the box never had (excluded ones); left as it is`,
        });
        kept.add(change.path);
        continue;
      }
    } else await unlink(full);
    if (change.kind === 'deleted') report.applied.push({ path: change.path, kind: change.kind });
  }
  const writes = changes.filter((c) => c.after && c.kind !== 'mode');
  for (const change of [...writes].sort(byPath)) {
    if (kept.has(change.path)) continue;
    const after = change.after as WorkspaceEntry;
    const full = await safePath(dir, change.path);
    if (after.type === 'directory') await mkdir(full, { mode: 0o700 });
    else if (after.type === 'symlink') await replaceWithSymlink(full, after.target ?? '');
    else {
      const data = contents.get(change.path);
      if (!data) throw new IronClawError('INTERNAL', `no content was read for ${change.path}`);
      await writeAtomically(full, data, after.mode);
    }
    report.applied.push({ path: change.path, kind: change.kind });
  }
  const modes = changes.filter(
    (c) =>
      c.after && c.after.type !== 'symlink' && (c.kind === 'mode' || c.after.type === 'directory'),
  );
  for (const change of [...modes].sort((a, b) => byPath(b, a))) {
    if (kept.has(change.path)) continue;
    const after = change.after as WorkspaceEntry;
    await chmodNoFollow(await safePath(dir, change.path), after.mode, after.type === 'directory');
    if (change.kind === 'mode') report.applied.push({ path: change.path, kind: change.kind });
  }
  return report;
}

/** By path, code point by code point: a directory sorts before everything under it. */
function byPath(a: { path: string }, b: { path: string }): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

/** DIR/path, once every parent below DIR is checked (lstat) to be a directory, not a symlink. */
async function safePath(dir: string, path: string): Promise<string> {
  const parts = path.split('/');
  if (parts.some((part) => part === '' || part === '.' || part === '..'))
    throw new IronClawError(
      'WORKSPACE_UNSAFE',
      `refusing to write ${JSON.stringify(path)}: not a plain relative path`,
    );
  for (let depth = 1; depth < parts.length; depth += 1) {
    const parent = join(dir, ...parts.slice(0, depth));
    const info = await lstat(parent);
    if (!info.isDirectory())
      throw new IronClawError(
        'WORKSPACE_UNSAFE',
        `refusing to write ${path}: ${parent} is ${info.isSymbolicLink() ? 'a symlink' : 'not a directory'}`,
      );
  }
  return join(dir, path);
}

async function writeAtomically(full: string, data: Buffer, mode: number): Promise<void> {
  const temp = join(dirname(full), `.ironclaw-apply-${randomBytes(6).toString('hex')}`);
  const handle = await open(
    temp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  );
  try {
    await handle.writeFile(data);
    await handle.chmod(mode & 0o777);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await handle.close();
  await moveIntoPlace(temp, full);
}

async function replaceWithSymlink(full: string, target: string): Promise<void> {
  const temp = join(dirname(full), `.ironclaw-apply-${randomBytes(6).toString('hex')}`);
  await symlink(target, temp);
  await moveIntoPlace(temp, full);
}

/**
 * Renames a finished temporary file over `full` and makes the rename durable; the temporary
 * file goes if the rename fails. rename replaces the name itself: a symlink at `full` is
 * replaced, never followed.
 */
async function moveIntoPlace(temp: string, full: string): Promise<void> {
  try {
    await rename(temp, full);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await syncDirectory(dirname(full));
}

async function chmodNoFollow(full: string, mode: number, directory: boolean): Promise<void> {
  const flags = constants.O_RDONLY | constants.O_NOFOLLOW | (directory ? constants.O_DIRECTORY : 0);
  const handle = await open(full, flags);
  try {
    await handle.chmod(mode & 0o777);
  } finally {
    await handle.close();
  }
}

async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function hashFile(full: string): Promise<string> {
  const handle = await open(full, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const hash = createHash('sha256');
    for await (const chunk of handle.createReadStream({ autoClose: false }))
      hash.update(chunk as Buffer);
    return hash.digest('hex');
  } finally {
    await handle.close();
  }
}

function typeOf(info: Stats): WorkspaceEntry['type'] | 'other' {
  return info.isSymbolicLink()
    ? 'symlink'
    : info.isDirectory()
      ? 'directory'
      : info.isFile()
        ? 'file'
        : 'other';
}

function describe(info: Stats): string {
  const type = typeOf(info);
  return type === 'other' ? 'special file' : type;
}

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}

/** Reads a host file of the workspace for the diff's "before" side, never through a symlink. */
export async function readHostFile(
  dir: string,
  path: string,
  maxBytes: number,
): Promise<Buffer | undefined> {
  try {
    const full = await safePath(dir, path);
    const handle = await open(full, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      const info = await handle.stat();
      if (!info.isFile() || info.size > maxBytes) return undefined;
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  } catch {
    return undefined;
  }
}
