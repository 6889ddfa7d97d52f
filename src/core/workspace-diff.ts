import { diffLines, splitLines } from './line-diff.js';
import { formatUnifiedDiff, toHunks } from './unified-diff.js';
import type { ChangeKind, WorkspaceChange, WorkspaceEntry } from './workspace-changes.js';

/** One change as a diff shows it: the entries, and a text diff or a binary summary. */
export interface FileChangeView extends WorkspaceChange {
  /** Unified diff of a text file (added and deleted ones against /dev/null). */
  patch?: string | undefined;
  /** Not shown as text: binary, or too large (`before`/`after` hold size and sha256). */
  binary?: boolean | undefined;
  /** Why apply will refuse this change (a symlink out of the workspace). */
  refused?: string | undefined;
  /** Anything else worth knowing (the text diff was cut, the host copy changed). */
  note?: string | undefined;
}

/** What changed in a box's /workspace against what was copied in. */
export interface WorkspaceDiff {
  sandbox: string;
  /** The host directory an apply writes to. */
  dir: string;
  /** Binds an approval to exactly these changes (see changesDigest). */
  digest: string;
  changes: FileChangeView[];
  summary: Record<ChangeKind, number>;
  /** Box paths under an exclusion (.git, .env, .ironclawignore): never applied. */
  ignored: { path: string; pattern: string }[];
  /** Box entries that cannot be applied (fifos, devices, hard links), with why. */
  skipped: { path: string; reason: string }[];
}

/** Files above this are summarised, not diffed line by line. */
export const MAX_TEXT_DIFF_BYTES = 1024 * 1024;
/** A longer unified diff of one file is cut, with a note. */
const MAX_PATCH_CHARS = 256 * 1024;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Text: valid UTF-8 without NUL bytes, and small enough to diff. */
export function asText(data: Uint8Array): string | undefined {
  if (data.length > MAX_TEXT_DIFF_BYTES || data.includes(0)) return undefined;
  try {
    return utf8.decode(data);
  } catch {
    return undefined;
  }
}

/** The unified diff between two versions of a text file (undefined = no such side). */
export function textPatch(
  path: string,
  before: string | undefined,
  after: string | undefined,
): { patch: string; note?: string } {
  const hunks = toHunks(diffLines(splitLines(before ?? ''), splitLines(after ?? '')));
  const patch = formatUnifiedDiff(hunks, {
    old: before === undefined ? '/dev/null' : `a/${path}`,
    new: after === undefined ? '/dev/null' : `b/${path}`,
  });
  if (patch.length <= MAX_PATCH_CHARS) return { patch };
  return {
    patch: patch.slice(0, patch.lastIndexOf('\n', MAX_PATCH_CHARS) + 1),
    note: `the text diff is ${patch.length} characters; only its start is shown`,
  };
}

export function summarise(changes: readonly WorkspaceChange[]): Record<ChangeKind, number> {
  const summary: Record<ChangeKind, number> = {
    added: 0,
    modified: 0,
    deleted: 0,
    mode: 0,
    type: 0,
  };
  for (const change of changes) summary[change.kind] += 1;
  return summary;
}

/** One line a change: "M  src/a.ts (text, +3 -1)", for terminals. */
export function changeLine(change: FileChangeView): string {
  const mark = { added: 'A', modified: 'M', deleted: 'D', mode: 'P', type: 'T' }[change.kind];
  const entry = change.after ?? change.before;
  const details: string[] = [];
  if (
    change.kind === 'mode' ||
    (change.kind === 'modified' && change.before?.mode !== change.after?.mode)
  )
    details.push(`mode ${octal(change.before?.mode)} → ${octal(change.after?.mode)}`);
  if (change.kind === 'type') details.push(`${change.before?.type} → ${change.after?.type}`);
  if (entry?.type === 'symlink') details.push(`-> ${entry.target ?? ''}`);
  else if (entry?.type === 'directory') details.push('directory');
  else if (change.patch !== undefined) {
    const rows = change.patch.split('\n');
    const plus = rows.filter((row) => row.startsWith('+') && !row.startsWith('+++')).length;
    const minus = rows.filter((row) => row.startsWith('-') && !row.startsWith('---')).length;
    details.push(`text, +${plus} -${minus}`);
  } else if (change.binary) details.push(binarySummary(change.before, change.after));
  if (change.refused) details.push(`REFUSED: ${change.refused}`);
  return `${mark}  ${change.path}${details.length ? ` (${details.join('; ')})` : ''}`;
}

function binarySummary(
  before: WorkspaceEntry | undefined,
  after: WorkspaceEntry | undefined,
): string {
  const side = (entry: WorkspaceEntry | undefined): string =>
    entry ? `${entry.size} B sha256 ${entry.sha256?.slice(0, 12) ?? '?'}` : 'none';
  return `binary, ${side(before)} → ${side(after)}`;
}

function octal(mode: number | undefined): string {
  return mode === undefined ? '?' : `0${mode.toString(8).padStart(3, '0')}`;
}

/** The diff for a terminal: one line a change, then the text diffs, then what was left out. */
export function renderDiff(diff: WorkspaceDiff, options: { patches: boolean }): string {
  const out: string[] = [];
  const { summary } = diff;
  out.push(
    `sandbox ${diff.sandbox} → ${diff.dir}: ${summary.added} added, ${summary.modified} modified, ${summary.deleted} deleted, ${summary.mode} mode, ${summary.type} type changed`,
  );
  for (const change of diff.changes) out.push(changeLine(change));
  for (const ignored of diff.ignored)
    out.push(`   ${ignored.path} (ignored: excluded by ${ignored.pattern}; never applied)`);
  for (const skipped of diff.skipped) out.push(`   ${skipped.path} (skipped: ${skipped.reason})`);
  if (options.patches)
    for (const change of diff.changes) {
      if (change.patch) out.push('', change.patch.trimEnd());
      if (change.note) out.push(`# ${change.path}: ${change.note}`);
    }
  return `${out.join('\n')}\n`;
}
