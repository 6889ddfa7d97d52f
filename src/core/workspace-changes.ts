import { createHash } from 'node:crypto';

/*
 * The workspace round trip's model: what went into a box (the manifest, one entry per path),
 * what the box holds now, and the changes between them. Pure; the host reads and writes files
 * elsewhere (host/workspace-*.ts).
 */

export type WorkspaceEntryType = 'file' | 'directory' | 'symlink';

/** One path of a workspace tree: a file's content hash, a symlink's target. */
export interface WorkspaceEntry {
  /** Relative, normalised ("src/a.ts"). */
  path: string;
  type: WorkspaceEntryType;
  /** Permission bits (& 0o777). */
  mode: number;
  /** Bytes of a file; 0 otherwise. */
  size: number;
  /** Hex SHA-256 of a file's bytes. */
  sha256?: string | undefined;
  /** A symlink's target, as written. */
  target?: string | undefined;
}

export type ChangeKind = 'added' | 'modified' | 'deleted' | 'mode' | 'type';

export interface WorkspaceChange {
  path: string;
  kind: ChangeKind;
  /** The copied-in entry (absent for 'added'). */
  before?: WorkspaceEntry | undefined;
  /** The box's entry (absent for 'deleted'). */
  after?: WorkspaceEntry | undefined;
}

/** Every difference between two trees, sorted by path. */
export function compareTrees(
  before: ReadonlyMap<string, WorkspaceEntry>,
  after: ReadonlyMap<string, WorkspaceEntry>,
): WorkspaceChange[] {
  const changes: WorkspaceChange[] = [];
  for (const [path, old] of before) {
    const now = after.get(path);
    if (!now) changes.push({ path, kind: 'deleted', before: old });
    else if (now.type !== old.type) changes.push({ path, kind: 'type', before: old, after: now });
    else if (old.sha256 !== now.sha256 || old.target !== now.target)
      changes.push({ path, kind: 'modified', before: old, after: now });
    else if (old.mode !== now.mode) changes.push({ path, kind: 'mode', before: old, after: now });
  }
  for (const [path, now] of after)
    if (!before.has(path)) changes.push({ path, kind: 'added', after: now });
  return changes.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * A digest of exactly what an apply of these changes would write: an approval is given for
 * this digest, and an apply whose fresh diff has another one is refused.
 */
export function changesDigest(dir: string, changes: readonly WorkspaceChange[]): string {
  const canonical = changes.map((change) => [
    change.path,
    change.kind,
    change.after?.type ?? null,
    change.after?.mode ?? null,
    change.after?.sha256 ?? null,
    change.after?.target ?? null,
  ]);
  return createHash('sha256')
    .update(JSON.stringify([dir, canonical]))
    .digest('hex');
}

/**
 * Why a symlink made in the box may not be created in the host directory, or undefined when
 * it may: its target must be relative and, resolved from the link's own directory, stay inside
 * the workspace (lexically; apply never follows a link while writing).
 */
export function unsafeSymlinkTarget(path: string, target: string): string | undefined {
  if (target.startsWith('/'))
    return `its target ${JSON.stringify(target)} is absolute (on the host it would point outside the workspace)`;
  const depth = path.split('/').length - 1;
  let level = depth;
  for (const part of target.split('/')) {
    if (part === '..') level -= 1;
    else if (part !== '' && part !== '.') level += 1;
    if (level < 0) return `its target ${JSON.stringify(target)} leads out of the workspace`;
  }
  return undefined;
}
