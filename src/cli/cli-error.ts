import { IronClawError, toIronClawError } from '../core/errors.js';

/** Exit status when IronClaw itself fails, as container CLIs use it; 126/127 come from the box. */
export const EXIT_SANDBOX_FAILED = 125;
/** Exit status when the reader of our output went away: 128 + SIGPIPE, as coreutils die. */
export const EXIT_BROKEN_PIPE = 141;
/** Exit status for a command line IronClaw cannot understand. */
export const EXIT_USAGE = 2;

/** Prints an error the way every command does: one line, code first, to stderr. */
export function reportError(error: unknown): number {
  const failure = toIronClawError(error);
  process.stderr.write(`ironclaw: ${failure.code}: ${failure.message}\n`);
  if (process.env.IRONCLAW_DEBUG && failure.cause instanceof Error)
    process.stderr.write(`${failure.cause.stack ?? ''}\n`);
  return failure.code === 'INVALID_ARGUMENT' || failure.code === 'INVALID_ID'
    ? EXIT_USAGE
    : EXIT_SANDBOX_FAILED;
}

export function usageError(message: string): IronClawError {
  return new IronClawError('INVALID_ARGUMENT', message);
}
