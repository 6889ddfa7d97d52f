import * as z from 'zod/mini';
import type { ApprovalBroker } from '../approval/approval-broker.js';
import { IronClawError } from '../core/errors.js';
import { SCOPES } from '../protocol/approval-api.js';

/** The part of the approval broker a dashboard uses. */
export type ApprovalDesk = Pick<ApprovalBroker, 'pending' | 'answer' | 'subscribe'>;

/** What the page gets: the cards, never their tokens (the server answers with those). */
export function approvalsView(desk: ApprovalDesk | undefined) {
  return { available: desk !== undefined, pending: desk?.pending().map(({ card }) => card) ?? [] };
}

const DecisionSchema = z.object({
  decision: z.enum(['approve', 'deny']),
  scope: z.enum(SCOPES),
});

/** Largest body a decision may have: two short words. */
export const DECISION_MAX_BYTES = 4096;

export type DecisionResult = { status: number; body: unknown };

/**
 * Decides one pending approval with the page's answer. The broker checks the token (it is the
 * server's own copy, so a page cannot forge one) and settles the approval exactly once.
 */
export function decide(desk: ApprovalDesk, id: string, raw: Buffer, by: string): DecisionResult {
  let parsed: z.infer<typeof DecisionSchema>;
  try {
    parsed = DecisionSchema.parse(JSON.parse(raw.toString('utf8')));
  } catch {
    throw new IronClawError(
      'INVALID_ARGUMENT',
      'a decision is JSON {"decision": "approve" | "deny", "scope": "once" | "sandbox" | "session" | "always"}',
    );
  }
  const pending = desk.pending().find((entry) => entry.card.id === id);
  if (!pending)
    return problem(
      404,
      'NOT_FOUND',
      `no pending approval ${JSON.stringify(id.slice(0, 80))}: it was answered or it expired`,
    );
  if (!pending.card.scopes.includes(parsed.scope))
    return problem(
      400,
      'INVALID_ARGUMENT',
      `this action may be approved ${pending.card.scopes.join(', ')}, not ${parsed.scope}`,
    );
  const outcome = desk.answer({ id, token: pending.token, ...parsed, by });
  if (outcome.ok) return { status: 200, body: { ok: true } };
  return problem(outcome.code === 'NOT_FOUND' ? 404 : 409, outcome.code, outcome.message);
}

function problem(status: number, code: string, message: string): DecisionResult {
  return { status, body: { error: { code, message } } };
}
