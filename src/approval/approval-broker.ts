import { randomBytes } from 'node:crypto';
import type { AuditOutcome, AuditStore } from '../audit/audit-store.js';
import { toIronClawError } from '../core/errors.js';
import type { ApprovalPolicy } from './approval-policy.js';
import { mintToken, readToken } from './approval-token.js';
import { cardText, type DiffCard } from './diff-card.js';
import { actionDigest, actionKey, type RedAction } from './red-action.js';
import { SCOPES, type Scope } from '../protocol/approval-api.js';
import type {
  AnswerOutcome,
  ApprovalAnswer,
  ApprovalResult,
  BrokerOptions,
  PendingApproval,
  RequestOptions,
} from './approval-types.js';
import { ScopeGrants } from './scope-grants.js';

export const DEFAULT_APPROVAL_TIMEOUT_MS = 120_000;

interface Pending {
  card: DiffCard;
  token: string;
  digest: string;
  expires: number;
  project: string | undefined;
  session: string;
  settle(result: ApprovalResult): void;
}

type Listener = (event: { type: 'pending' | 'settled'; id: string }) => void;

/**
 * The approval cliff's one authority in a process (the daemon, an MCP server, a wrap): it opens
 * a pending approval for a red action, shows it to whoever watches (the dashboard) and to the
 * asker's own channel, takes the first valid answer, and records every request, answer and
 * refusal in the audit store. An answer counts only with the token minted for that approval:
 * signed with a key that never leaves this process, for that exact action, before its expiry,
 * and once. No answer in time is a deny, and so is a request with nobody to ask.
 */
export class ApprovalBroker {
  readonly #key = randomBytes(32);
  readonly #audit: AuditStore | undefined;
  readonly #policy: ApprovalPolicy | undefined;
  readonly #timeoutMs: number;
  readonly #session: string;
  readonly #now: () => number;
  readonly #pending = new Map<string, Pending>();
  /** Ids whose token was used or whose approval ended: a second answer is a replay. */
  readonly #ended = new Set<string>();
  readonly #grants = new ScopeGrants();
  readonly #listeners = new Set<Listener>();

  constructor(options: BrokerOptions = {}) {
    this.#audit = options.audit;
    this.#policy = options.policy;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_APPROVAL_TIMEOUT_MS;
    this.#session = options.session ?? randomBytes(6).toString('hex');
    this.#now = options.now ?? Date.now;
  }

  /** The approvals waiting for an answer, oldest first. */
  pending(): PendingApproval[] {
    return [...this.#pending.values()].map(({ card, token }) => ({ card, token }));
  }

  /**
   * Watches pending approvals and their ends (the dashboard). While anyone watches, a request
   * without a channel of its own waits for an answer instead of being denied at once.
   */
  subscribe(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Whether anyone watches (the dashboard): a request without a channel of its own can wait. */
  watched(): boolean {
    return this.#listeners.size > 0;
  }

  /**
   * Asks for a yes to `action`: an earlier scoped yes or an approvals-file rule answers at once;
   * otherwise the action waits, as a pending approval, for the asker's channel or a watcher,
   * until its expiry.
   */
  async request(action: RedAction, options: RequestOptions): Promise<ApprovalResult> {
    const opened = await this.open(action, options);
    const pending = opened.pending;
    if (!pending) return opened.result;
    const channel = new AbortController();
    const signal = options.signal
      ? AbortSignal.any([channel.signal, options.signal])
      : channel.signal;
    options.ask?.(pending, signal).catch((error: unknown) => {
      // A watcher (the dashboard) may still answer; with none, nobody can.
      if (this.#listeners.size === 0)
        this.#refuse(pending.card.id, `its channel failed: ${toIronClawError(error).message}`);
    });
    try {
      return await opened.result;
    } finally {
      channel.abort();
    }
  }

  /**
   * Opens a pending approval without waiting on it (a client that is asked, and answers, by
   * calls of its own). `pending` is undefined when it was decided at once: by an earlier scoped
   * yes or a rule (approved), or because nobody could be asked (denied).
   */
  async open(
    action: RedAction,
    options: RequestOptions,
  ): Promise<{ pending: PendingApproval | undefined; result: Promise<ApprovalResult> }> {
    const earlier = await this.#earlierYes(action, options);
    if (earlier) return { pending: undefined, result: Promise.resolve(earlier) };
    const id = `ap-${randomBytes(9)
      .toString('base64url')
      .toLowerCase()
      .replace(/[^a-z0-9]/g, '0')}`;
    const digest = actionDigest(action);
    const requested = this.#now();
    const expires = requested + this.#timeoutMs;
    const scopes = SCOPES.filter((scope) => scope !== 'always' || options.project !== undefined);
    const card: DiffCard = {
      id,
      ...cardText(action, options.diff),
      sandbox: action.sandbox,
      agent: options.agent,
      action,
      scopes,
      requestedAt: new Date(requested).toISOString(),
      expiresAt: new Date(expires).toISOString(),
    };
    const record = this.#audit?.request({
      kind: 'approval',
      sandbox: action.sandbox,
      data: { id, key: actionKey(action), title: card.title, agent: options.agent, action },
    });
    const finish = (result: ApprovalResult): ApprovalResult => {
      record?.settle(outcome(result), {
        id,
        decision: result.approved ? 'approve' : 'deny',
        scope: result.scope,
        by: result.by,
        reason: result.reason,
      });
      return result;
    };
    if (!options.hasChannel && options.ask === undefined && this.#listeners.size === 0) {
      this.#ended.add(id);
      const result = finish({
        id,
        approved: false,
        scope: undefined,
        by: 'policy',
        reason: `${card.title} needs a person's approval, and no one can be asked here (no terminal, no open dashboard); nothing was done`,
      });
      return { pending: undefined, result: Promise.resolve(result) };
    }
    let settle!: (result: ApprovalResult) => void;
    const result = new Promise<ApprovalResult>((resolve) => {
      settle = resolve;
    });
    const token = mintToken(this.#key, { id, digest, expires });
    const timer = setTimeout(
      () =>
        this.#end(id, {
          id,
          approved: false,
          scope: undefined,
          by: 'timeout',
          reason: `no answer within ${Math.round(this.#timeoutMs / 1000)} s; a timeout is a deny; nothing was done`,
        }),
      expires - requested,
    );
    timer.unref();
    this.#pending.set(id, {
      card,
      token,
      digest,
      expires,
      project: options.project,
      session: options.session ?? this.#session,
      settle: (value) => {
        clearTimeout(timer);
        settle(finish(value));
      },
    });
    options.signal?.addEventListener('abort', () => this.#refuse(id, 'the request was cancelled'), {
      once: true,
    });
    this.#emit({ type: 'pending', id });
    return { pending: { card, token }, result };
  }

  /**
   * Takes one answer. It counts only with a token this broker minted for exactly this approval
   * and action, before the expiry, the first time; anything else is refused and recorded.
   */
  answer(answer: ApprovalAnswer): AnswerOutcome {
    const refused = (code: Exclude<AnswerOutcome, { ok: true }>['code'], message: string) => {
      this.#audit?.append({
        kind: 'approval-refused',
        sandbox: answer.action?.sandbox,
        data: { id: answer.id, code, by: answer.by, message },
      });
      return { ok: false as const, code, message };
    };
    const token = readToken(this.#key, answer.token);
    if (!token.ok) return refused(token.code, token.message);
    const { claims } = token;
    if (claims.id !== answer.id)
      return refused(
        'APPROVAL_MISMATCH',
        `the token was issued for approval ${claims.id}, not ${answer.id}; nothing was approved`,
      );
    if (this.#ended.has(claims.id))
      return refused(
        'APPROVAL_REPLAYED',
        `approval ${claims.id} was already answered or has ended; a token counts once; nothing more was approved`,
      );
    const pending = this.#pending.get(claims.id);
    if (!pending) return refused('NOT_FOUND', `no pending approval ${claims.id} here`);
    if (
      claims.digest !== pending.digest ||
      (answer.action && actionDigest(answer.action) !== pending.digest)
    )
      return refused(
        'APPROVAL_MISMATCH',
        `the answer is for another action than approval ${claims.id} asked about (its arguments differ); nothing was approved`,
      );
    if (this.#now() >= claims.expires) {
      this.#end(claims.id, {
        id: claims.id,
        approved: false,
        scope: undefined,
        by: 'timeout',
        reason: 'the approval expired before the answer came; nothing was done',
      });
      return refused(
        'APPROVAL_EXPIRED',
        `approval ${claims.id} expired at ${new Date(claims.expires).toISOString()}; nothing was approved`,
      );
    }
    if (!pending.card.scopes.includes(answer.scope))
      return refused(
        'APPROVAL_MISMATCH',
        `scope "${answer.scope}" is not offered for approval ${claims.id} (offered: ${pending.card.scopes.join(', ')})`,
      );
    void this.#decide(pending, answer);
    return { ok: true };
  }

  async #decide(pending: Pending, answer: ApprovalAnswer): Promise<void> {
    const { card } = pending;
    const approved = answer.decision === 'approve';
    this.#ended.add(card.id);
    this.#pending.delete(card.id);
    if (approved) {
      const key = actionKey(card.action);
      if (answer.scope === 'sandbox' && card.sandbox !== undefined)
        this.#grants.grant('sandbox', card.sandbox, key);
      if (answer.scope === 'session') this.#grants.grant('session', pending.session, key);
      if (answer.scope === 'always' && pending.project !== undefined && this.#policy)
        await this.#policy.add(card.action, pending.project, answer.by).catch((error: unknown) => {
          this.#audit?.append({
            kind: 'approval-rule-failed',
            sandbox: card.sandbox,
            data: { id: card.id, message: toIronClawError(error).message },
          });
        });
    }
    pending.settle({
      id: card.id,
      approved,
      scope: answer.scope,
      by: answer.by,
      reason: approved
        ? `approved ${answer.scope === 'once' ? 'once' : `for ${answer.scope === 'always' ? 'this project, always' : `this ${answer.scope}`}`} by ${answer.by}`
        : `denied by ${answer.by}; nothing was done`,
    });
    this.#emit({ type: 'settled', id: card.id });
  }

  async #earlierYes(
    action: RedAction,
    options: RequestOptions,
  ): Promise<ApprovalResult | undefined> {
    const key = actionKey(action);
    const session = options.session ?? this.#session;
    let by: 'scope' | 'rule' | undefined;
    let scope: Scope | undefined = this.#grants.covering(key, action.sandbox, session);
    if (scope !== undefined) by = 'scope';
    else if (options.project !== undefined && this.#policy) {
      const rule = await this.#policy.match(action, options.project).catch(() => undefined);
      if (rule) [by, scope] = ['rule', 'always'];
    }
    if (by === undefined) return undefined;
    const reason =
      by === 'rule'
        ? `allowed by the rule "${key}" for ${options.project ?? ''} in ${this.#policy?.path ?? 'the approvals file'}`
        : `covered by an earlier approval for this ${scope ?? ''}`;
    this.#audit?.append({
      kind: 'approval',
      sandbox: action.sandbox,
      data: { key, agent: options.agent, decision: 'approve', by, scope, reason },
    });
    return { id: undefined, approved: true, scope, by, reason };
  }

  #refuse(id: string, why: string): void {
    this.#end(id, {
      id,
      approved: false,
      scope: undefined,
      by: 'cancel',
      reason: `${why}; nothing was done`,
    });
  }

  #end(id: string, result: ApprovalResult): void {
    const pending = this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id);
    this.#ended.add(id);
    pending.settle(result);
    this.#emit({ type: 'settled', id });
  }

  #emit(event: { type: 'pending' | 'settled'; id: string }): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // A watcher's fault is its own: it never stops the approval or the other watchers.
      }
    }
  }
}

function outcome(result: ApprovalResult): AuditOutcome {
  return result.approved ? 'done' : 'denied';
}
