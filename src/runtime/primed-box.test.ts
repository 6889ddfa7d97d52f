import { describe, expect, test } from 'vitest';
import { primedFilesFit } from './primed-box.js';

// A primed box's runner writes files as the guest agent's write_file would; a set of paths it
// would write differently must go through a sandbox instead (test/mcp-run-fast.test.ts).
describe('primedFilesFit', () => {
  test('takes resolved paths under /workspace and /tmp, written in turn', () => {
    expect(primedFilesFit([])).toBe(true);
    expect(
      primedFilesFit(['/workspace/a', '/workspace/in/b.txt', '/tmp/x/y/z', '/workspace/a']),
    ).toBe(true);
  });

  test('refuses what a header line or write_file would take otherwise', () => {
    for (const paths of [
      ['/workspace'],
      ['/tmp/'],
      ['/etc/passwd'],
      ['/workspacex/a'],
      ['/workspace/../etc/x'],
      ['/workspace/./a'],
      ['/workspace//a'],
      ['relative'],
      ['/workspace/two\nlines'],
      ['/workspace/nul\0'],
      // A file, then a file under it: write_file cannot make a directory of a file.
      ['/workspace/a', '/workspace/a/b'],
      ['/tmp/a/b/c', '/tmp/a/b'],
    ])
      expect(primedFilesFit(paths), JSON.stringify(paths)).toBe(false);
  });
});
