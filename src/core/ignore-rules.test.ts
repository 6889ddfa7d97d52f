import { describe, expect, test } from 'vitest';
import { unwrap } from './errors.js';
import { compileIgnoreRules, DEFAULT_EXCLUDES, excludedBy } from './ignore-rules.js';

const rules = (lines: string[]) => unwrap(compileIgnoreRules(lines, 'test'));
const excluded = (lines: string[], path: string, dir = false) =>
  excludedBy(rules(lines), path, dir)?.pattern;

describe('ignore rules (a gitignore subset)', () => {
  test('defaults: .git, .env and .env.* at any depth, and what is below them', () => {
    const defaults = [...DEFAULT_EXCLUDES];
    expect(excluded(defaults, '.git', true)).toBe('.git');
    expect(excluded(defaults, '.git/hooks/pre-commit')).toBe('.git');
    expect(excluded(defaults, 'sub/.git/config')).toBe('.git');
    expect(excluded(defaults, '.env')).toBe('.env');
    expect(excluded(defaults, 'api/.env.local')).toBe('.env.*');
    expect(excluded(defaults, '.envrc')).toBeUndefined();
    expect(excluded(defaults, 'src/env.ts')).toBeUndefined();
  });

  test('globs, anchors and directory-only patterns', () => {
    expect(excluded(['*.log'], 'a/b/x.log')).toBe('*.log');
    expect(excluded(['*.log'], 'a/b/x.logs')).toBeUndefined();
    expect(excluded(['/build'], 'build', true)).toBe('/build');
    expect(excluded(['/build'], 'src/build', true)).toBeUndefined();
    expect(excluded(['out/'], 'out', true)).toBe('out/');
    expect(excluded(['out/'], 'out')).toBeUndefined();
    expect(excluded(['out/'], 'out/x.js')).toBe('out/');
    expect(excluded(['docs/*.pdf'], 'docs/a.pdf')).toBe('docs/*.pdf');
    expect(excluded(['docs/*.pdf'], 'x/docs/a.pdf')).toBeUndefined();
    expect(excluded(['**/cache'], 'a/b/cache', true)).toBe('**/cache');
    expect(excluded(['a/**/z'], 'a/z')).toBe('a/**/z');
    expect(excluded(['a/**/z'], 'a/b/c/z')).toBe('a/**/z');
    expect(excluded(['logs/**'], 'logs/x/y')).toBe('logs/**');
    expect(excluded(['f?.txt'], 'f1.txt')).toBe('f?.txt');
    expect(excluded(['a.b'], 'aXb')).toBeUndefined();
    expect(excluded(['# comment', '', 'x  '], 'x')).toBe('x');
  });

  test('negation, escapes and paths out of the workspace are refused with the line', () => {
    const negation = compileIgnoreRules(['a', '!b'], '.ironclawignore');
    expect(negation).toMatchObject({ ok: false, code: 'INVALID_ARGUMENT' });
    expect(!negation.ok && negation.message).toContain('line 2');
    expect(compileIgnoreRules(['../x'], 'f')).toMatchObject({ ok: false });
    expect(compileIgnoreRules(['a\\*'], 'f')).toMatchObject({ ok: false });
  });
});
