import { describe, expect, it } from 'vitest';
import { ExecParamsSchema, ReadFileParamsSchema, WriteFileParamsSchema } from './guest-api.js';
import { parseParams } from './rpc-server.js';

describe('guest method params', () => {
  it.each([
    { argv: ['ls', '-l'] },
    { shell: 'echo hi | wc -c', cwd: '/workspace', env: { A: '1' }, timeoutMs: 1000 },
    { argv: ['cat'], stdinOpen: true, maxOutputBytes: 1 },
    { argv: ['bash'], stdinOpen: true, tty: { rows: 24, cols: 80, term: 'xterm-256color' } },
    { argv: ['bash'], tty: { rows: 65535, cols: 1 } },
  ])('exec accepts %j', (params) => {
    expect(parseParams(ExecParamsSchema, params, 'exec')).toEqual(params);
  });

  it.each([
    ['neither argv nor shell', {}],
    ['both argv and shell', { argv: ['ls'], shell: 'ls' }],
    ['an empty argv', { argv: [] }],
    ['an empty cwd', { argv: ['ls'], cwd: '' }],
    ['a zero timeout', { argv: ['ls'], timeoutMs: 0 }],
    ['a fractional output cap', { argv: ['ls'], maxOutputBytes: 1.5 }],
    ['env values that are not strings', { argv: ['ls'], env: { A: 1 } }],
    ['a terminal with no rows', { argv: ['sh'], tty: { rows: 0, cols: 80 } }],
    ['a terminal wider than TIOCSWINSZ holds', { argv: ['sh'], tty: { rows: 24, cols: 65536 } }],
    ['a TERM with a NUL', { argv: ['sh'], tty: { rows: 24, cols: 80, term: 'x\0y' } }],
  ])('exec rejects %s with INVALID_ARGUMENT', (_what, params) => {
    const parse = () => parseParams(ExecParamsSchema, params, 'exec');
    expect(parse).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(parse).toThrow(/^invalid exec request: /);
  });

  it('write_file bounds the mode to permission bits', () => {
    const params = { path: 'a', data: '' };
    expect(WriteFileParamsSchema.safeParse({ ...params, mode: 0o7777 }).success).toBe(true);
    expect(WriteFileParamsSchema.safeParse({ ...params, mode: 0o10000 }).success).toBe(false);
    expect(WriteFileParamsSchema.safeParse({ ...params, mode: -1 }).success).toBe(false);
  });

  it('paths are 1 to 4096 characters', () => {
    expect(ReadFileParamsSchema.safeParse({ path: 'a'.repeat(4096) }).success).toBe(true);
    expect(ReadFileParamsSchema.safeParse({ path: 'a'.repeat(4097) }).success).toBe(false);
    expect(ReadFileParamsSchema.safeParse({ path: '' }).success).toBe(false);
  });

  it('names each problem with its path', () => {
    const error = (() => {
      try {
        parseParams(
          WriteFileParamsSchema,
          { path: 1, data: 2, mode: 'x', append: 'y' },
          'write_file',
        );
      } catch (caught) {
        return caught as Error;
      }
      throw new Error('expected parseParams to throw');
    })();
    expect(error.message).toMatch(/path: .*; data: .*; mode: .*; append: /);
  });
});
