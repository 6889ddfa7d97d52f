import type { AuditStore } from '../audit/audit-store.js';
import type { ApprovalPolicy } from './approval-policy.js';
import type { DiffCard } from './diff-card.js';
import type { RedAction } from './red-action.js';
import type { Scope } from '../protocol/approval-api.js';

/** A pending approval as a channel shows it: the card, and the token an answer must carry. */
export interface PendingApproval {
  card: DiffCard;
  token: string;
}

export interface ApprovalAnswer {
  id: string;
  token: string;
  decision: 'approve' | 'deny';
  scope: Scope;
  /** Which channel answered: "tty", "dashboard", "elicitation", "--yes" ... */
  by: string;
  /**
   * The action as the answering side sees it (an MCP client's retried call, with its
   * arguments): an answer for any other action than the one asked about is refused.
   */
  action?: RedAction | undefined;
}

export type AnswerOutcome =
  | { ok: true }
  | {
      ok: false;
      code:
        | 'APPROVAL_FORGED'
        | 'APPROVAL_EXPIRED'
        | 'APPROVAL_REPLAYED'
        | 'APPROVAL_MISMATCH'
        | 'NOT_FOUND';
      message: string;
    };

export interface ApprovalResult {
  id: string | undefined;
  approved: boolean;
  /** The scope of the yes (or of the earlier yes that covered this action). */
  scope: Scope | undefined;
  /** Who decided: a channel, "scope" (an earlier yes), "rule" (the approvals file), "timeout". */
  by: string;
  reason: string;
}

export interface RequestOptions {
  /** Who asks, for the card and the audit record. */
  agent: string;
  /** The rendered diff of a workspace apply (the card's diff for the other kinds is made here). */
  diff?: string | undefined;
  /** The project an "always" answer is saved for; without one "always" is not offered. */
  project?: string | undefined;
  /** The session a "session" answer covers; the broker's own by default. */
  session?: string | undefined;
  /**
   * The asker answers through `answer` itself (a CLI with a terminal, an MCP client asked by
   * elicitation), so the request waits even with no watcher.
   */
  hasChannel?: boolean | undefined;
  /**
   * The asker's own interactive channel (a TTY prompt, an MCP elicitation), asked beside the
   * broker's watchers (the dashboard). Its answer goes through `answer` like any other.
   */
  ask?: ((pending: PendingApproval, signal: AbortSignal) => Promise<void>) | undefined;
  signal?: AbortSignal | undefined;
}

export interface BrokerOptions {
  /** Requests and outcomes are recorded here before anything is decided; without it, nothing is. */
  audit?: AuditStore | undefined;
  policy?: ApprovalPolicy | undefined;
  /** How long a pending approval waits for an answer; then it is a deny. */
  timeoutMs?: number | undefined;
  session?: string | undefined;
  now?: (() => number) | undefined;
}
