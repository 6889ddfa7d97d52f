import { describe, expect, it } from 'vitest';
import { ERROR_CODES, IronClawError, isErrorCode, toIronClawError, unwrap } from './errors.js';

describe('IronClawError', () => {
  it('carries a code, a message and a cause, and serialises to code and message only', () => {
    const cause = new Error('EACCES');
    const error = new IronClawError('FILE_ERROR', 'cannot write /workspace/a', { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('IronClawError');
    expect(error.cause).toBe(cause);
    expect(JSON.parse(JSON.stringify(error))).toEqual({
      code: 'FILE_ERROR',
      message: 'cannot write /workspace/a',
    });
  });

  it('has unique codes, and knows which strings are codes', () => {
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
    expect(isErrorCode('FRAME_TOO_LARGE')).toBe(true);
    expect(isErrorCode('frame_too_large')).toBe(false);
    expect(isErrorCode('toString')).toBe(false);
    expect(isErrorCode(undefined)).toBe(false);
  });
});

describe('toIronClawError', () => {
  it('keeps an IronClawError as it is', () => {
    const error = new IronClawError('NOT_FOUND', 'gone');
    expect(toIronClawError(error, 'FILE_ERROR')).toBe(error);
  });

  it('maps an AbortError to ABORTED, keeping it as the cause', () => {
    const reason: unknown = AbortSignal.abort().reason;
    expect(reason).toMatchObject({ name: 'AbortError' });
    const error = toIronClawError(reason);
    expect(error.code).toBe('ABORTED');
    expect(error.cause).toBe(reason);
    const named = Object.assign(new Error('The operation was aborted'), { name: 'AbortError' });
    expect(toIronClawError(named).code).toBe('ABORTED');
  });

  it('maps a TimeoutError to TIMEOUT, keeping it as the cause', () => {
    const reason = new DOMException('The operation timed out.', 'TimeoutError');
    const error = toIronClawError(reason, 'EXEC_FAILED');
    expect(error.code).toBe('TIMEOUT');
    expect(error.cause).toBe(reason);
  });

  it('wraps anything else with the fallback code, INTERNAL by default', () => {
    const cause = new TypeError('x is undefined');
    expect(toIronClawError(cause)).toMatchObject({
      code: 'INTERNAL',
      message: 'x is undefined',
      cause,
    });
    expect(toIronClawError(cause, 'FILE_ERROR').code).toBe('FILE_ERROR');
    expect(toIronClawError('a string')).toMatchObject({ code: 'INTERNAL', message: 'a string' });
    expect(toIronClawError(undefined).message).toBe('undefined');
  });
});

describe('unwrap', () => {
  it('returns the value of a passed check and throws a failed one as an IronClawError', () => {
    expect(unwrap({ ok: true, value: 42 })).toBe(42);
    expect(() => unwrap({ ok: false, code: 'INVALID_ID', message: 'bad id' })).toThrow(
      expect.objectContaining({ code: 'INVALID_ID', message: 'bad id' }),
    );
  });
});
