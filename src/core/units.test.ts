import { describe, expect, it } from 'vitest';
import { formatBytes, parseAge, parseBytes, parseDuration } from './units.js';

const KiB = 1024;
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

describe('parseBytes', () => {
  it.each([
    ['1048576', 1048576],
    ['1', 1],
    ['10b', 10],
    ['4k', 4 * KiB],
    ['4KB', 4 * KiB],
    ['4kib', 4 * KiB],
    ['512m', 512 * MiB],
    ['512MiB', 512 * MiB],
    ['1g', GiB],
    ['2 GB', 2 * GiB],
    ['  64m  ', 64 * MiB],
    ['1.5k', 1536],
    ['0.5g', 512 * MiB],
  ])('parses %j as %d bytes', (text, bytes) => {
    expect(parseBytes(text)).toEqual({ ok: true, value: bytes });
  });

  it.each([
    ['empty', ''],
    ['no number', 'm'],
    ['a negative', '-1m'],
    ['zero', '0'],
    ['less than a byte', '0.1'],
    ['an unknown unit', '1t'],
    ['a typo', '5x'],
    ['an exponent', '1e3'],
    ['hex', '0x10'],
    ['two numbers', '1 2'],
    ['a trailing dot', '1.'],
    ['an inherited property name as unit', '1constructor'],
    ['more than is safe', '99999999999g'],
  ])('rejects %s (%j) with INVALID_ARGUMENT', (_what, text) => {
    expect(parseBytes(text)).toMatchObject({ ok: false, code: 'INVALID_ARGUMENT' });
  });

  it('names the setting and the input in its message', () => {
    const check = parseBytes('lots', '--memory');
    expect(check.ok).toBe(false);
    if (check.ok) return;
    expect(check.message).toMatch(/^invalid --memory "lots": .*512m/);
  });
});

describe('parseDuration', () => {
  it.each([
    ['30', 30_000],
    ['30s', 30_000],
    ['30S', 30_000],
    [' 10 s ', 10_000],
    ['500ms', 500],
    ['1.5s', 1_500],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['0.25', 250],
  ])('parses %j as %d ms', (text, ms) => {
    expect(parseDuration(text)).toEqual({ ok: true, value: ms });
  });

  it.each([
    ['empty', ''],
    ['no number', 's'],
    ['zero', '0s'],
    ['a negative', '-5s'],
    ['less than a millisecond', '0.1ms'],
    ['days', '1d'],
    ['a spelled-out unit', '5 seconds'],
    ['an ISO 8601 duration', 'PT5S'],
    ['a clock time', '1:30'],
    ['more than is safe', '9999999999999h'],
  ])('rejects %s (%j) with INVALID_ARGUMENT', (_what, text) => {
    expect(parseDuration(text)).toMatchObject({ ok: false, code: 'INVALID_ARGUMENT' });
  });

  it('names the setting and the input in its message', () => {
    const check = parseDuration('soon', '--timeout');
    expect(check.ok).toBe(false);
    if (check.ok) return;
    expect(check.message).toMatch(/^invalid --timeout "soon": .*30s/);
  });
});

describe('parseAge', () => {
  it.each([
    ['30d', 30 * 86_400_000],
    ['1.5d', 129_600_000],
    ['12h', 43_200_000],
    ['90s', 90_000],
  ])('parses %j as %d ms', (text, ms) => {
    expect(parseAge(text)).toEqual({ ok: true, value: ms });
  });

  it.each([['0d'], ['-1d'], ['1w'], ['99999999999999d'], ['']])('rejects %j', (text) => {
    expect(parseAge(text, 'audit.maxAge')).toMatchObject({
      ok: false,
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('audit.maxAge') as unknown,
    });
  });
});

describe('formatBytes', () => {
  it('uses the largest binary unit that fits', () => {
    expect(formatBytes(512)).toBe('512 bytes');
    expect(formatBytes(1024)).toBe('1 KiB');
    expect(formatBytes(24 * 1024 ** 2)).toBe('24 MiB');
    expect(formatBytes(1.5 * 1024 ** 3)).toBe('1.5 GiB');
  });
});
