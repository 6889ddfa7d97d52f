import type { AuditedAction } from '../audit/audit-trail.js';
import type { Logger } from './logger.js';

/** A request passed on to the wrapped server and not yet answered. */
export interface Pending {
  method: string;
  tool?: string;
  argumentsSha256?: string;
  started: number;
  /** A tools/call's audit request, written before the call is passed on. */
  audit?: AuditedAction;
}

export interface CallOutcome {
  outcome: 'answered' | 'error' | 'denied' | 'cancelled';
  isError: boolean;
  reason?: string;
  error?: string;
}

/** Records how a tools/call ended, on stderr and in the audit store. */
export function auditCall(
  log: Logger,
  pending: Pending,
  decision: 'allowed' | 'denied',
  outcome: CallOutcome,
): void {
  const record = {
    event: 'tools/call',
    at: new Date().toISOString(),
    tool: pending.tool,
    argumentsSha256: pending.argumentsSha256,
    decision,
    ...outcome,
    durationMs: Math.round(performance.now() - pending.started),
  };
  // On stderr, one JSON object per line after a fixed marker, and in the audit store.
  log.info(`audit ${JSON.stringify(record)}`);
  const { event: _event, at: _at, tool: _tool, argumentsSha256: _sha, ...call } = record;
  pending.audit?.settle(
    outcome.outcome === 'denied'
      ? 'denied'
      : outcome.outcome === 'answered' && !outcome.isError
        ? 'done'
        : 'failed',
    call,
  );
}
