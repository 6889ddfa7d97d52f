import type { CallToolResult, InputRequiredResult } from '@modelcontextprotocol/server';
import { type ErrorCode, IronClawError, toIronClawError } from '../core/errors.js';
import type { Logger } from './logger.js';

/**
 * Where a tool failure lies: in the call (its arguments, its ids, its paths, what the caller
 * holds), in IronClaw, or in a capacity that work in progress has used up for now, so that the
 * same call may succeed when retried later.
 */
export type Fault = 'request' | 'server' | 'capacity';

/**
 * A limit reached. Whose fault it is depends on what fills it, not on the code: the caller's
 * own holdings (it can free one) or calls still running (it can retry when they end).
 */
export class LimitError extends IronClawError {
  readonly fault: Fault;

  constructor(message: string, fault: 'request' | 'capacity') {
    super('SANDBOX_LIMIT', message);
    this.name = 'LimitError';
    this.fault = fault;
  }
}

/** Codes caused by what the call asked for; every other code is IronClaw's own failure. */
const REQUEST_FAULTS: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'INVALID_ARGUMENT',
  'INVALID_ID',
  'PATH_OUTSIDE_SANDBOX',
  'NOT_FOUND',
  'SANDBOX_NOT_FOUND',
  'SANDBOX_CLOSED',
  'FILE_ERROR',
  'ABORTED',
]);

/** Key of a failed result's `_meta` entry, for programs that branch on the code. */
const ERROR_META_KEY = 'ironclaw/error';

/** A successful result: the structured value, and the same facts as text for a model to read. */
export function toolOk<T extends Record<string, unknown>>(
  structured: T,
  text: string,
): CallToolResult & { structuredContent: T } {
  return { content: [{ type: 'text', text }], structuredContent: structured };
}

/**
 * Maps anything a tool handler threw to a tool error (`isError: true`), which the model sees and
 * can act on. The text starts with the stable code. A failure of IronClaw itself says so, and an
 * unexpected one is logged in full but reported without internals: it is never presented as a
 * problem with the caller's arguments.
 */
export function toolFailure(
  error: unknown,
  context: { tool: string; log: Logger },
): CallToolResult {
  const failure = toIronClawError(error);
  const fault: Fault =
    failure instanceof LimitError
      ? failure.fault
      : REQUEST_FAULTS.has(failure.code)
        ? 'request'
        : 'server';
  let message = failure.message;
  if (failure.code === 'INTERNAL') {
    const stack = failure.cause instanceof Error ? failure.cause.stack : undefined;
    context.log.error(`${context.tool} failed unexpectedly: ${stack ?? failure.message}`);
    message = `IronClaw failed unexpectedly while running ${context.tool}; the server's log has the details`;
  } else if (fault === 'server') {
    context.log.warn(`${context.tool}: ${failure.code}: ${failure.message}`);
  }
  const suffix =
    fault === 'server'
      ? ' (a failure of the IronClaw server, not of the arguments given)'
      : fault === 'capacity'
        ? ' (a capacity limit reached for now, not a fault of the arguments given: retry later)'
        : '';
  return {
    content: [{ type: 'text', text: `${failure.code}: ${message}${suffix}` }],
    isError: true,
    _meta: { [ERROR_META_KEY]: { code: failure.code, fault } },
  };
}

/** Runs a tool handler and turns whatever it throws into a tool error. */
export async function guarded<R extends CallToolResult | InputRequiredResult>(
  context: { tool: string; log: Logger },
  handler: () => Promise<R>,
): Promise<R | CallToolResult> {
  try {
    return await handler();
  } catch (error) {
    return toolFailure(error, context);
  }
}
