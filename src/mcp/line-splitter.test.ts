import { describe, expect, test } from 'vitest';
import { LineSplitter, type OversizedLine } from './line-splitter.js';

function splitter(maxBytes: number): {
  push: (text: string) => void;
  lines: string[];
  oversized: OversizedLine[];
} {
  const lines: string[] = [];
  const oversized: OversizedLine[] = [];
  const split = new LineSplitter({
    maxBytes,
    onLine: (line) => lines.push(line),
    onOversized: (line) => oversized.push(line),
  });
  return { push: (text) => split.push(Buffer.from(text)), lines, oversized };
}

describe('LineSplitter', () => {
  test('joins lines across chunks, drops a CR before the newline and skips blank lines', () => {
    const { push, lines } = splitter(100);
    push('ab');
    push('c\r\n\n  \nde');
    push('f\n');
    expect(lines).toEqual(['abc', 'def']);
  });

  test('never delivers a last line that has no newline', () => {
    const { push, lines } = splitter(100);
    push('whole\npartial');
    expect(lines).toEqual(['whole']);
  });

  test('drops an oversized line as it streams past, reporting its size and its ends', () => {
    const { push, lines, oversized } = splitter(10);
    const long = `HEAD${'x'.repeat(1000)}TAIL`;
    for (let at = 0; at < long.length; at += 7) push(long.slice(at, at + 7));
    push('\nnext\n');
    expect(lines).toEqual(['next']);
    expect(oversized).toHaveLength(1);
    expect(oversized[0]?.bytes).toBe(long.length);
    // The head is what was held when the cap was crossed: the first two chunks here.
    expect(oversized[0]?.head).toBe(long.slice(0, 14));
    expect(oversized[0]?.tail).toMatch(/^x+TAIL$/);
    expect(oversized[0]?.tail.length).toBe(256);
  });
});
