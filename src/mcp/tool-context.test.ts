import { describe, expect, test } from 'vitest';
import { decodeContent, limitsFrom } from './tool-context.js';

const error = (code: string): unknown => expect.objectContaining({ code }) as unknown;

describe('decodeContent', () => {
  test('takes utf8 text and base64, with whitespace in the base64', () => {
    expect(decodeContent('héllo', undefined, 'f', 100).toString()).toBe('héllo');
    expect(decodeContent('aGk=', 'base64', 'f', 100).toString()).toBe('hi');
    expect([...decodeContent('AP8=\n', 'base64', 'f', 100)]).toEqual([0, 255]);
  });

  test('refuses malformed base64 instead of guessing', () => {
    for (const text of ['a', 'no!!', '====', 'aGk', 'aGk=aGk='])
      expect(() => decodeContent(text, 'base64', 'f', 100), text).toThrow(
        error('INVALID_ARGUMENT'),
      );
  });

  test('refuses content over the cap, counted in bytes', () => {
    expect(() => decodeContent('é'.repeat(6), 'utf8', 'x.txt', 10)).toThrow(/x.txt has 12 bytes/);
    expect(decodeContent('é'.repeat(5), 'utf8', 'x.txt', 10)).toHaveLength(10);
  });
});

test('limitsFrom parses memory sizes and passes pids on', () => {
  expect(limitsFrom({})).toEqual({});
  expect(limitsFrom({ memory: '512m', pids: 64 })).toEqual({
    memoryBytes: 512 * 1024 ** 2,
    pids: 64,
  });
  expect(() => limitsFrom({ memory: 'lots' })).toThrow(error('INVALID_ARGUMENT'));
});
