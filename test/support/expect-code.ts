import { inspect } from 'node:util';
import { expect } from 'vitest';
import { type ErrorCode, IronClawError } from '../../src/index.js';

/** Runs `operation` and asserts it fails with an IronClawError of `code`; returns the error. */
export async function expectCode(
  operation: () => Promise<unknown>,
  code: ErrorCode,
): Promise<IronClawError> {
  const outcome = await Promise.resolve()
    .then(operation)
    .then(
      (value: unknown) => ({ value }),
      (error: unknown) => ({ error }),
    );
  if (!('error' in outcome))
    throw new Error(
      `expected a ${code} error, but the call succeeded with ${inspect(outcome.value, { depth: 1, maxStringLength: 200 })}`,
    );
  expect(outcome.error).toBeInstanceOf(IronClawError);
  expect((outcome.error as IronClawError).code, (outcome.error as IronClawError).message).toBe(
    code,
  );
  return outcome.error as IronClawError;
}
