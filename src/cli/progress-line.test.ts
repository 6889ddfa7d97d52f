import { describe, expect, test } from 'vitest';
import { ProgressLine, progressMode } from './progress-line.js';

/** A display that writes into a string, as stderr would show it raw. */
function collect(mode: 'tty' | 'plain' | 'off'): { line: ProgressLine; text: () => string } {
  let text = '';
  return { line: new ProgressLine(mode, (chunk) => (text += chunk)), text: () => text };
}

const MiB = 1024 ** 2;

/** Carriage returns and escapes spelled out, to match with plain patterns. */
function visible(text: string): string {
  return text.replaceAll('\r', '<CR>').replaceAll('\x1b', '<ESC>');
}

describe('ProgressLine', () => {
  test('the mode: off with --json, a bar on a terminal, plain lines otherwise', () => {
    expect(progressMode(true, { isTTY: true })).toBe('off');
    expect(progressMode(false, { isTTY: true })).toBe('tty');
    expect(progressMode(false, {})).toBe('plain');
  });

  test('on a terminal: a bar redrawn in place, erased before a step and at the end', () => {
    const { line, text } = collect('tty');
    line.begin('copying big', 40 * MiB);
    expect(text()).toBe(`\r\x1b[2Kcopying big [${'.'.repeat(30)}] 0% 0 bytes / 40 MiB`);
    line.step('a step');
    expect(text()).toContain('\r\x1b[2Ka step\r\n\r\x1b[2Kcopying big [');
    line.advance(40 * MiB);
    line.end('copied big');
    expect(visible(text())).toMatch(/<CR><ESC>\[2Kcopied big \(40 MiB in [\d.]+ s\)<CR>\n$/);
  });

  test('plain: a line at the start, each quarter, and the end; no escapes', () => {
    const { line, text } = collect('plain');
    line.begin('copying big', 40 * MiB);
    for (let index = 0; index < 40; index++) line.advance(MiB);
    line.end('copied big');
    expect(text().split('\n').slice(0, -2)).toEqual([
      'copying big: 40 MiB',
      'copying big: 10 MiB of 40 MiB (25%)',
      'copying big: 20 MiB of 40 MiB (50%)',
      'copying big: 30 MiB of 40 MiB (75%)',
    ]);
    expect(text()).toMatch(/\ncopied big \(40 MiB in [\d.]+ s\)\n$/);
    expect(visible(text())).not.toMatch(/<CR>|<ESC>/);
  });

  test('off (--json): nothing at all', () => {
    const { line, text } = collect('off');
    line.begin('copying big', 40 * MiB);
    line.step('a step');
    line.advance(40 * MiB);
    line.end('copied big');
    expect(text()).toBe('');
  });
});
