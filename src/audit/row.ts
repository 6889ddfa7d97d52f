import type { SQLOutputValue } from 'node:sqlite';
import { IronClawError } from '../core/errors.js';

/** A column that must hold text; anything else means the file was written by someone else. */
export function text(value: SQLOutputValue | undefined, column: string): string {
  if (typeof value !== 'string')
    throw new IronClawError('AUDIT_UNAVAILABLE', `the audit store's ${column} column is not text`);
  return value;
}

/** A column that must hold an integer, or null where `nullable`. */
export function integer(value: SQLOutputValue | undefined, column: string): number {
  if (typeof value === 'number' || typeof value === 'bigint') return Number(value);
  throw new IronClawError(
    'AUDIT_UNAVAILABLE',
    `the audit store's ${column} column is not a number`,
  );
}

export function nullableText(value: SQLOutputValue | undefined, column: string): string | null {
  return value === null ? null : text(value, column);
}

export function nullableInteger(value: SQLOutputValue | undefined, column: string): number | null {
  return value === null ? null : integer(value, column);
}
