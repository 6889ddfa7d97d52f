import { unwrap } from '../core/errors.js';
import type { Limits } from '../core/limits.js';
import { parseBytes, parseDuration } from '../core/units.js';

export interface LimitFlags {
  timeout?: string | undefined;
  memory?: string | undefined;
  pids?: string | undefined;
}

/** Validates the limit flags shared by `exec`, `sandbox create` and `sandbox exec`. */
export function parseLimitFlags(flags: LimitFlags): {
  limits: Partial<Limits>;
  timeoutMs: number | undefined;
} {
  const limits: Partial<Limits> = {};
  if (flags.memory !== undefined) limits.memoryBytes = unwrap(parseBytes(flags.memory, '--memory'));
  if (flags.pids !== undefined) {
    // Digits only: Number() would also take '', ' 1', '0x10' and '1e3'.
    const pids = /^\d{1,15}$/.test(flags.pids) ? Number(flags.pids) : NaN;
    if (!Number.isSafeInteger(pids) || pids < 1)
      unwrap({
        ok: false,
        code: 'INVALID_ARGUMENT',
        message: `invalid --pids ${JSON.stringify(flags.pids)}: not a positive whole number; use for example 256`,
      });
    limits.pids = pids;
  }
  const timeoutMs =
    flags.timeout === undefined ? undefined : unwrap(parseDuration(flags.timeout, '--timeout'));
  return { limits, timeoutMs };
}
