/**
 * Stable error codes. A code never changes meaning once released: scripts and the MCP layer
 * branch on it. Messages are for people and may improve over time.
 */
export const ERROR_CODES = [
  'INVALID_ARGUMENT',
  'INVALID_ID',
  'PATH_OUTSIDE_SANDBOX',
  'NOT_FOUND',
  'SANDBOX_NOT_FOUND',
  'SANDBOX_START_FAILED',
  'SANDBOX_CLOSED',
  /** A sandbox limit is reached: by what the caller holds, or, for now, by calls in progress. */
  'SANDBOX_LIMIT',
  'POLICY_UNENFORCEABLE',
  'DRIVER_UNAVAILABLE',
  'IMAGE_BUILD_FAILED',
  'FRAME_TOO_LARGE',
  'FRAME_TRUNCATED',
  'FRAME_INVALID',
  'PROTOCOL_ERROR',
  'CHANNEL_CLOSED',
  'TIMEOUT',
  'ABORTED',
  'EXEC_FAILED',
  'FILE_ERROR',
  'STATE_DIR_UNSAFE',
  'DAEMON_UNAVAILABLE',
  'AUDIT_UNAVAILABLE',
  'WORKSPACE_TOO_LARGE',
  'WORKSPACE_CONFLICT',
  'WORKSPACE_CHANGED',
  'WORKSPACE_UNSAFE',
  'ARCHIVE_INVALID',
  'ARCHIVE_UNSAFE',
  'NOT_CONFIRMED',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

/** The one base error of IronClaw: a stable `code`, a message that says what to do, a cause. */
export class IronClawError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'IronClawError';
    this.code = code;
  }

  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

/** Wraps anything thrown into an IronClawError, keeping IronClawErrors as they are. */
export function toIronClawError(error: unknown, fallback: ErrorCode = 'INTERNAL'): IronClawError {
  if (error instanceof IronClawError) return error;
  if (error instanceof Error && error.name === 'AbortError') {
    return new IronClawError('ABORTED', 'the operation was aborted', { cause: error });
  }
  if (error instanceof Error && error.name === 'TimeoutError') {
    return new IronClawError('TIMEOUT', 'the operation timed out', { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new IronClawError(fallback, message, { cause: error });
}

/** The result of a pure check: the caller decides whether a failure is an error. */
export type Check<T> = { ok: true; value: T } | { ok: false; code: ErrorCode; message: string };

export function unwrap<T>(check: Check<T>): T {
  if (check.ok) return check.value;
  throw new IronClawError(check.code, check.message);
}
