/** One step of an edit script that turns the old lines into the new ones. */
export interface LineEdit {
  kind: 'equal' | 'delete' | 'insert';
  line: string;
}

/**
 * Splits text into lines that keep their "\n", so that a last line without one stays distinct
 * and joining the lines gives the text back exactly.
 */
export function splitLines(text: string): string[] {
  const lines: string[] = [];
  let start = 0;
  for (let index = text.indexOf('\n'); index !== -1; index = text.indexOf('\n', start)) {
    lines.push(text.slice(start, index + 1));
    start = index + 1;
  }
  if (start < text.length) lines.push(text.slice(start));
  return lines;
}

/** Past this many differences the script is "replace the changed middle": correct, not minimal. */
const DEFAULT_MAX_DISTANCE = 2000;

/**
 * Myers' O(ND) difference algorithm (1986) over lines: a shortest edit script from `a` to `b`.
 * A common prefix and suffix are taken off first. The search keeps one slice of its frontier
 * per step for the walk back, so memory grows with the square of the distance; past
 * `maxDistance` the changed middle becomes one deletion and one insertion block, still a
 * correct script.
 */
export function diffLines(
  a: readonly string[],
  b: readonly string[],
  options: { maxDistance?: number } = {},
): LineEdit[] {
  let prefix = 0;
  while (prefix < a.length && prefix < b.length && a[prefix] === b[prefix]) prefix += 1;
  let suffix = 0;
  while (
    suffix < a.length - prefix &&
    suffix < b.length - prefix &&
    a[a.length - 1 - suffix] === b[b.length - 1 - suffix]
  )
    suffix += 1;
  const head = a.slice(0, prefix).map((line): LineEdit => ({ kind: 'equal', line }));
  const tail = a.slice(a.length - suffix).map((line): LineEdit => ({ kind: 'equal', line }));
  const oldMiddle = a.slice(prefix, a.length - suffix);
  const newMiddle = b.slice(prefix, b.length - suffix);
  const middle =
    myers(oldMiddle, newMiddle, options.maxDistance ?? DEFAULT_MAX_DISTANCE) ??
    replaceAll(oldMiddle, newMiddle);
  return [...head, ...middle, ...tail];
}

function replaceAll(a: readonly string[], b: readonly string[]): LineEdit[] {
  return [
    ...a.map((line): LineEdit => ({ kind: 'delete', line })),
    ...b.map((line): LineEdit => ({ kind: 'insert', line })),
  ];
}

/** The frontier before step d: furthest x per diagonal k, for k in [-d-1, d+1]. */
interface Frontier {
  low: number;
  x: Int32Array;
}

function myers(a: readonly string[], b: readonly string[], maxDistance: number): LineEdit[] | null {
  const n = a.length;
  const m = b.length;
  if (n === 0 || m === 0) return replaceAll(a, b);
  const limit = Math.min(n + m, maxDistance);
  const offset = limit + 1;
  const v = new Int32Array(2 * limit + 3);
  const trace: Frontier[] = [];
  for (let d = 0; d <= limit; d += 1) {
    trace.push({ low: -d - 1, x: v.slice(offset - d - 1, offset + d + 2) });
    for (let k = -d; k <= d; k += 2) {
      const down = k === -d || (k !== d && at(v, offset, k - 1) < at(v, offset, k + 1));
      let x = down ? at(v, offset, k + 1) : at(v, offset, k - 1) + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x += 1;
        y += 1;
      }
      v[offset + k] = x;
      if (x >= n && y >= m) return walkBack(a, b, trace);
    }
  }
  return null;
}

function at(v: Int32Array, offset: number, k: number): number {
  return v[offset + k] ?? 0;
}

function frontierAt(frontier: Frontier, k: number): number {
  return frontier.x[k - frontier.low] ?? 0;
}

function walkBack(a: readonly string[], b: readonly string[], trace: Frontier[]): LineEdit[] {
  const edits: LineEdit[] = [];
  let x = a.length;
  let y = b.length;
  for (let d = trace.length - 1; d >= 0; d -= 1) {
    const frontier = trace[d] as Frontier;
    const k = x - y;
    const down = k === -d || (k !== d && frontierAt(frontier, k - 1) < frontierAt(frontier, k + 1));
    const previousK = down ? k + 1 : k - 1;
    const previousX = d === 0 ? 0 : frontierAt(frontier, previousK);
    const previousY = d === 0 ? 0 : previousX - previousK;
    while (x > previousX && y > previousY) {
      edits.push({ kind: 'equal', line: a[x - 1] as string });
      x -= 1;
      y -= 1;
    }
    if (d > 0) {
      if (x === previousX) edits.push({ kind: 'insert', line: b[y - 1] as string });
      else edits.push({ kind: 'delete', line: a[x - 1] as string });
    }
    x = previousX;
    y = previousY;
  }
  return edits.reverse();
}
