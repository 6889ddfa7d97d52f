import type { LineEdit } from './line-diff.js';

/** One hunk of a unified diff; starts are 1-based as in its `@@` line. */
export interface Hunk {
  oldStart: number;
  oldLines: number;
  newStart: number;
  newLines: number;
  edits: LineEdit[];
}

/** Groups an edit script into hunks with `context` unchanged lines around each change. */
export function toHunks(edits: readonly LineEdit[], context = 3): Hunk[] {
  // Runs of changes whose gaps are at most 2*context equal lines share one hunk.
  const groups: { first: number; last: number }[] = [];
  edits.forEach((edit, index) => {
    if (edit.kind === 'equal') return;
    const group = groups.at(-1);
    if (group && index - group.last - 1 <= 2 * context) group.last = index;
    else groups.push({ first: index, last: index });
  });
  // Line numbers before each edit, on both sides.
  const oldBefore: number[] = [];
  const newBefore: number[] = [];
  let oldLine = 0;
  let newLine = 0;
  for (const edit of edits) {
    oldBefore.push(oldLine);
    newBefore.push(newLine);
    if (edit.kind !== 'insert') oldLine += 1;
    if (edit.kind !== 'delete') newLine += 1;
  }
  return groups.map(({ first, last }) => {
    const from = Math.max(0, first - context);
    const to = Math.min(edits.length, last + context + 1);
    const slice = edits.slice(from, to);
    const oldLines = slice.filter((edit) => edit.kind !== 'insert').length;
    const newLines = slice.filter((edit) => edit.kind !== 'delete').length;
    const oldStart = (oldBefore[from] ?? 0) + 1;
    const newStart = (newBefore[from] ?? 0) + 1;
    // A side with no lines names the line before the hunk (`@@ -0,0 +1,2 @@` for a new file).
    return {
      oldStart: oldLines === 0 ? oldStart - 1 : oldStart,
      oldLines,
      newStart: newLines === 0 ? newStart - 1 : newStart,
      newLines,
      edits: slice,
    };
  });
}

/** The unified diff text of one file (`--- a/path`, `+++ b/path`, hunks), or '' without hunks. */
export function formatUnifiedDiff(
  hunks: readonly Hunk[],
  names: { old: string; new: string },
): string {
  if (hunks.length === 0) return '';
  const out = [`--- ${names.old}\n`, `+++ ${names.new}\n`];
  for (const hunk of hunks) {
    out.push(
      `@@ -${range(hunk.oldStart, hunk.oldLines)} +${range(hunk.newStart, hunk.newLines)} @@\n`,
    );
    for (const edit of hunk.edits) {
      const mark = edit.kind === 'equal' ? ' ' : edit.kind === 'delete' ? '-' : '+';
      out.push(
        edit.line.endsWith('\n')
          ? `${mark}${edit.line}`
          : `${mark}${edit.line}\n\\ No newline at end of file\n`,
      );
    }
  }
  return out.join('');
}

function range(start: number, lines: number): string {
  return lines === 1 ? String(start) : `${start},${lines}`;
}

/**
 * Applies hunks to the old lines: the new lines, or an error when a context or deleted line
 * does not match (the hunks were not made from these lines).
 */
export function applyHunks(
  old: readonly string[],
  hunks: readonly Hunk[],
): { ok: true; lines: string[] } | { ok: false; message: string } {
  const out: string[] = [];
  let next = 0;
  for (const hunk of hunks) {
    const start = hunk.oldLines === 0 ? hunk.oldStart : hunk.oldStart - 1;
    if (start < next || start > old.length)
      return { ok: false, message: `hunk at line ${hunk.oldStart} is out of order or range` };
    out.push(...old.slice(next, start));
    next = start;
    for (const edit of hunk.edits) {
      if (edit.kind === 'insert') {
        out.push(edit.line);
        continue;
      }
      if (old[next] !== edit.line)
        return { ok: false, message: `line ${next + 1} does not match the hunk` };
      if (edit.kind === 'equal') out.push(edit.line);
      next += 1;
    }
  }
  out.push(...old.slice(next));
  return { ok: true, lines: out };
}
