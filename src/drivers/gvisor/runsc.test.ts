import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { importantLogLines, runscLogTail } from './runsc.js';

const INFO = 'I1123 02:42:48.549948   15024 network.go:58] Setting up network';
const WARN = 'W1123 02:42:48.584432   15024 main.go:275] Failure to execute command, err: 1';
const FATAL =
  'W1123 02:42:48.584322   15024 util.go:64] FATAL ERROR: running container: creating process: failed to load /nonexistent';

describe('importantLogLines', () => {
  it.each([
    ['keeps warnings and drops info lines', [INFO, WARN, INFO], [WARN]],
    [
      'keeps Go runtime output that is not glog',
      [INFO, 'fatal error: newosproc', INFO],
      ['fatal error: newosproc'],
    ],
    ['falls back to the last info lines when nothing else is there', [INFO, INFO], [INFO, INFO]],
    ['keeps the order of the log', [FATAL, INFO, WARN], [FATAL, WARN]],
    ['ignores blank lines', ['', WARN, '  '], [WARN]],
    [
      'drops warnings runsc logs for every box',
      [
        'W1123 02:58:29.531148   12331 vfs.go:761] ignoring unknown mount option "size=1048576"',
        WARN,
      ],
      [WARN],
    ],
  ])('%s', (_, lines, expected) => {
    expect(importantLogLines(lines.join('\n'))).toEqual(expected);
  });

  it('quotes at most maxLines, the last ones', () => {
    const lines = Array.from({ length: 30 }, (_, index) => `${WARN} #${index}`);
    expect(importantLogLines(lines.join('\n'), 3)).toEqual(lines.slice(-3));
  });

  it('shortens very long lines', () => {
    const [line] = importantLogLines(`W${'x'.repeat(2000)}`);
    expect(line?.length).toBeLessThan(520);
    expect(line?.endsWith('…')).toBe(true);
  });
});

describe('runscLogTail', () => {
  it('reads only the end of a large log, and gives "" for a missing one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ironclaw-log-'));
    try {
      const path = join(dir, 'runsc.log');
      await writeFile(path, `${`${INFO}\n`.repeat(5000)}${FATAL}\n${INFO}\n`);
      expect(await runscLogTail(path)).toBe(FATAL);
      expect(await runscLogTail(join(dir, 'missing.log'))).toBe('');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
