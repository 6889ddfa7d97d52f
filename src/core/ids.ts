import { randomBytes } from 'node:crypto';
import type { Check } from './errors.js';

/** Sandbox ids become path components and cgroup names: nothing else is allowed. */
export const ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function checkId(value: unknown, what = 'sandbox id'): Check<string> {
  if (typeof value !== 'string' || !ID_PATTERN.test(value)) {
    const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 80)) : typeof value;
    return {
      ok: false,
      code: 'INVALID_ID',
      message: `invalid ${what} ${shown}: use 1-63 characters of a-z, 0-9 and '-', starting with a letter or digit`,
    };
  }
  return { ok: true, value };
}

/** A fresh id with 80 bits of randomness: unguessable, so it can name a sandbox to a client. */
export function newId(prefix = 'sb'): string {
  return `${prefix}-${randomBytes(10).toString('hex')}`;
}
