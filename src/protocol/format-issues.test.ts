import { expect, it } from 'vitest';
import * as z from 'zod/mini';
import { formatIssues } from './format-issues.js';

const Schema = z.strictObject({
  size: z.optional(z.number().check(z.int(), z.gte(0), z.lte(64))),
  name: z.optional(z.string().check(z.minLength(2))),
  kind: z.optional(z.enum(['a', 'b'])),
  nested: z.optional(z.strictObject({ on: z.boolean() })),
});

function issues(input: unknown, keyName?: (path: string) => string): string {
  const parsed = Schema.safeParse(input, { reportInput: true });
  if (parsed.success) throw new Error('parsed');
  return formatIssues(parsed.error, keyName ? { keyName } : {});
}

it('names the key, what it expects and what it got, never "Invalid input"', () => {
  expect(issues({ size: 'x' })).toBe('size: expected a number, got "x"');
  expect(issues({ size: 100 })).toBe('size: must be at most 64, got 100');
  expect(issues({ size: -1 })).toBe('size: must be at least 0, got -1');
  expect(issues({ size: 1.5 })).toMatch(/^size: expected a whole number/);
  expect(issues({ name: 'x' })).toBe('name: must be at least 2 characters long, got "x"');
  expect(issues({ kind: 'c' })).toBe('kind: expected "a" or "b", got "c"');
  expect(issues({ nested: { on: 1 } })).toBe('nested.on: expected a boolean, got 1');
  expect(issues({ extra: 1, more: 2 })).toBe('unknown keys "extra", "more"');
  expect(issues([])).toBe('expected an object, got []');
});

it('names a key as the caller calls it', () => {
  expect(issues({ size: 'x' }, (path) => `ENV_${path.toUpperCase()}`)).toBe(
    'ENV_SIZE: expected a number, got "x"',
  );
});
