import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { diffLines, type LineEdit, splitLines } from './line-diff.js';
import { applyHunks, formatUnifiedDiff, type Hunk, toHunks } from './unified-diff.js';

/** Reads a unified diff back into hunks, as `patch` would: the formatter is tested too. */
function parseUnified(text: string): Hunk[] {
  const hunks: Hunk[] = [];
  const rows = text.split('\n');
  let hunk: Hunk | undefined;
  for (let index = 2; index < rows.length; index += 1) {
    const row = rows[index] as string;
    const header = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@$/.exec(row);
    if (header) {
      hunk = {
        oldStart: Number(header[1]),
        oldLines: Number(header[2] ?? 1),
        newStart: Number(header[3]),
        newLines: Number(header[4] ?? 1),
        edits: [],
      };
      hunks.push(hunk);
      continue;
    }
    if (!hunk || row === '') continue;
    if (row === '\\ No newline at end of file') {
      const last = hunk.edits.at(-1) as LineEdit;
      last.line = last.line.slice(0, -1);
      continue;
    }
    const kind = row[0] === ' ' ? 'equal' : row[0] === '-' ? 'delete' : 'insert';
    hunk.edits.push({ kind, line: `${row.slice(1)}\n` });
  }
  return hunks;
}

// Small alphabets so that old and new texts share many lines, as real edits do.
const text = fc
  .array(fc.constantFrom('a', 'b', 'c', 'd\te', '', ' x ', 'π'), { maxLength: 40 })
  .chain((lines) =>
    fc.boolean().map((newlineAtEnd) => lines.join('\n') + (newlineAtEnd ? '\n' : '')),
  );

describe('diffLines and unified diffs', () => {
  test('property: applying the diff to the old text gives the new text', () => {
    fc.assert(
      fc.property(text, text, fc.integer({ min: 0, max: 4 }), (before, after, context) => {
        const old = splitLines(before);
        const edits = diffLines(old, splitLines(after));
        expect(edits.filter((e) => e.kind !== 'insert').map((e) => e.line)).toEqual(old);
        expect(
          edits
            .filter((e) => e.kind !== 'delete')
            .map((e) => e.line)
            .join(''),
        ).toBe(after);
        const hunks = toHunks(edits, context);
        const direct = applyHunks(old, hunks);
        expect(direct.ok && direct.lines.join('')).toBe(after);
        const text = formatUnifiedDiff(hunks, { old: 'a/f', new: 'b/f' });
        const reparsed = applyHunks(old, parseUnified(text));
        expect(reparsed.ok && reparsed.lines.join('')).toBe(after);
      }),
      { seed: 15, numRuns: 2000 },
    );
  });

  test('property: the script is minimal (no longer than the LCS-based distance)', () => {
    const lcs = (a: string[], b: string[]): number => {
      const row = new Array<number>(b.length + 1).fill(0);
      for (const x of a) {
        let diagonal = 0;
        for (let j = 1; j <= b.length; j += 1) {
          const above = row[j] as number;
          row[j] = x === b[j - 1] ? diagonal + 1 : Math.max(above, row[j - 1] as number);
          diagonal = above;
        }
      }
      return row[b.length] as number;
    };
    fc.assert(
      fc.property(text, text, (before, after) => {
        const a = splitLines(before);
        const b = splitLines(after);
        const changes = diffLines(a, b).filter((e) => e.kind !== 'equal').length;
        expect(changes).toBe(a.length + b.length - 2 * lcs(a, b));
      }),
      { seed: 15, numRuns: 1000 },
    );
  });

  test('past maxDistance the script stays correct', () => {
    const a = splitLines('1\n2\n3\n4\n5\n');
    const b = splitLines('x\n2\ny\n4\nz\n');
    const edits = diffLines(a, b, { maxDistance: 2 });
    expect(
      edits
        .filter((e) => e.kind !== 'delete')
        .map((e) => e.line)
        .join(''),
    ).toBe(b.join(''));
  });

  test('formats headers, context and a missing final newline', () => {
    const edits = diffLines(splitLines('a\nb\nc'), splitLines('a\nB\nc'));
    expect(formatUnifiedDiff(toHunks(edits), { old: 'a/f', new: 'b/f' })).toBe(
      '--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n\\ No newline at end of file\n',
    );
    const added = toHunks(diffLines([], splitLines('new\n')));
    expect(formatUnifiedDiff(added, { old: '/dev/null', new: 'b/f' })).toBe(
      '--- /dev/null\n+++ b/f\n@@ -0,0 +1 @@\n+new\n',
    );
  });
});
