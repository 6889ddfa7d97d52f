import { describe, expect, it } from 'vitest';
import { checkId, ID_PATTERN, newId } from './ids.js';

describe('checkId', () => {
  it.each(['a', '0', 'sb-0123abcd', 'my-box-2', 'a-', 'a'.repeat(63)])('accepts %j', (id) => {
    expect(checkId(id)).toEqual({ ok: true, value: id });
  });

  it.each([
    ['empty', ''],
    ['a parent path', '../x'],
    ['a path separator', 'a/b'],
    ['uppercase', 'Box'],
    ['64 characters', 'a'.repeat(64)],
    ['a leading dash', '-a'],
    ['a dot', 'a.b'],
    ['only dots', '..'],
    ['an underscore', 'a_b'],
    ['a space', 'a b'],
    ['a trailing newline', 'abc\n'],
    ['a NUL byte', 'a\0'],
    ['non-ASCII', 'bóx'],
  ])('rejects %s', (_what, id) => {
    const check = checkId(id);
    expect(check).toMatchObject({ ok: false, code: 'INVALID_ID' });
  });

  it.each([undefined, null, 7, ['a'], { id: 'a' }])('rejects the non-string %j', (value) => {
    expect(checkId(value)).toMatchObject({ ok: false, code: 'INVALID_ID' });
  });

  it('says what was invalid and how to fix it', () => {
    const check = checkId('../x', 'pool id');
    expect(check.ok).toBe(false);
    if (check.ok) return;
    expect(check.message).toContain('invalid pool id "../x"');
    expect(check.message).toContain("a-z, 0-9 and '-'");
  });
});

describe('newId', () => {
  it('makes valid ids with the prefix and 80 random bits in hex', () => {
    const id = newId();
    expect(id).toMatch(/^sb-[0-9a-f]{20}$/);
    expect(id).toMatch(ID_PATTERN);
    expect(checkId(id).ok).toBe(true);
    expect(newId('pool')).toMatch(/^pool-[0-9a-f]{20}$/);
  });

  it('does not repeat itself', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newId()));
    expect(ids.size).toBe(1000);
  });
});
