import { describe, expect, test } from 'vitest';
import {
  changesDigest,
  compareTrees,
  unsafeSymlinkTarget,
  type WorkspaceEntry,
} from './workspace-changes.js';

const tree = (...entries: WorkspaceEntry[]) => new Map(entries.map((e) => [e.path, e]));
const file = (path: string, sha256: string, mode = 0o644): WorkspaceEntry => ({
  path,
  type: 'file',
  mode,
  size: 1,
  sha256,
});

describe('compareTrees', () => {
  test('names every kind of change, sorted by path', () => {
    const before = tree(file('a', '1'), file('b', '2'), file('c', '3'), file('d', '4'));
    const after = tree(
      file('a', '1'),
      file('b', '9'),
      file('c', '3', 0o755),
      { path: 'd', type: 'directory', mode: 0o755, size: 0 },
      file('e', '5'),
    );
    expect(compareTrees(before, after).map((c) => `${c.kind} ${c.path}`)).toEqual([
      'modified b',
      'mode c',
      'type d',
      'added e',
    ]);
    expect(compareTrees(after, before).map((c) => `${c.kind} ${c.path}`)).toContain('deleted e');
  });

  test('the digest changes with content, mode or path, and only with them', () => {
    const base = compareTrees(tree(), tree(file('a', '1')));
    expect(changesDigest('/p', base)).toBe(
      changesDigest('/p', compareTrees(tree(), tree(file('a', '1')))),
    );
    expect(changesDigest('/p', base)).not.toBe(
      changesDigest('/p', compareTrees(tree(), tree(file('a', '2')))),
    );
    expect(changesDigest('/p', base)).not.toBe(
      changesDigest('/p', compareTrees(tree(), tree(file('a', '1', 0o600)))),
    );
    expect(changesDigest('/p', base)).not.toBe(changesDigest('/q', base));
  });
});

describe('unsafeSymlinkTarget', () => {
  test.each([
    ['link', '/etc', 'absolute'],
    ['link', '..', 'out of'],
    ['a/b/link', '../../../x', 'out of'],
    ['link', 'x/../../y', 'out of'],
  ])('%s -> %s is refused', (path, target, words) => {
    expect(unsafeSymlinkTarget(path, target)).toContain(words);
  });
  test.each([
    ['link', 'README.md'],
    ['a/b/link', '../../x'],
    ['a/link', './b/../c'],
  ])('%s -> %s stays inside', (path, target) => {
    expect(unsafeSymlinkTarget(path, target)).toBeUndefined();
  });
});
