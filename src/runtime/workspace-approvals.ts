import type { ApprovalBroker } from '../approval/approval-broker.js';
import type { ApprovalResult } from '../approval/approval-types.js';
import type { RedAction } from '../approval/red-action.js';
import { IronClawError } from '../core/errors.js';
import { renderDiff, type WorkspaceDiff } from '../core/workspace-diff.js';
import type { ApplyReport } from '../host/workspace-apply.js';
import type { Sandbox } from './sandbox.js';

interface Ticket {
  sandbox: string;
  digest: string;
  result: Promise<ApprovalResult>;
}

/** A settled approval nobody came back for is forgotten after this. */
const FORGET_AFTER_MS = 60_000;

/**
 * The workspace apply of the daemon's sandboxes, through the approval cliff: `ask` opens a
 * pending approval for exactly the diff shown (or is decided at once: an earlier yes, a rule,
 * or nobody to ask), `apply` waits for its answer and writes only after a yes, once. The
 * answer comes through the broker from whichever channel the person uses: the asking CLI's
 * terminal, or the dashboard.
 */
export class WorkspaceApprovals {
  readonly #broker: ApprovalBroker;
  readonly #tickets = new Map<string, Ticket>();

  constructor(broker: ApprovalBroker) {
    this.#broker = broker;
  }

  async ask(
    sandbox: Sandbox,
    request: { digest: string; agent: string; channel: boolean },
    signal: AbortSignal,
  ): Promise<{
    title: string;
    approval?: string;
    expiresAt?: string;
    token?: string;
    denied?: string;
  }> {
    const diff = await sandbox.workspaceDiff({ signal });
    assertSameDiff(sandbox.id, request.digest, diff);
    const action: RedAction = {
      kind: 'workspace-apply',
      sandbox: sandbox.id,
      dir: diff.dir,
      digest: diff.digest,
      changes: diff.changes.length,
    };
    const { pending, result } = await this.#broker.open(action, {
      agent: request.agent,
      diff: renderDiff(diff, { patches: true }),
      project: diff.dir,
      hasChannel: request.channel,
    });
    const id = pending?.card.id ?? `decided-${diff.digest.slice(0, 16)}-${Date.now()}`;
    const decided = pending ? undefined : await result;
    if (decided && !decided.approved)
      return { title: `Apply to ${diff.dir}`, denied: decided.reason };
    this.#tickets.set(id, { sandbox: sandbox.id, digest: diff.digest, result });
    void result.then(() => setTimeout(() => this.#tickets.delete(id), FORGET_AFTER_MS).unref());
    return {
      title: pending?.card.title ?? `Apply to ${diff.dir}`,
      approval: id,
      ...(pending ? { expiresAt: pending.card.expiresAt } : {}),
      ...(pending && request.channel ? { token: pending.token } : {}),
    };
  }

  async apply(
    sandbox: Sandbox,
    request: { digest: string; approval: string },
    signal: AbortSignal,
  ): Promise<ApplyReport> {
    const ticket = this.#tickets.get(request.approval);
    if (!ticket || ticket.sandbox !== sandbox.id || ticket.digest !== request.digest)
      throw new IronClawError(
        'NOT_CONFIRMED',
        `no approval ${request.approval} for this diff of sandbox ${sandbox.id}; nothing was written: ask for one (ironclaw apply does)`,
      );
    // One approval, one apply.
    this.#tickets.delete(request.approval);
    const result = await abortable(ticket.result, signal);
    if (!result.approved) throw new IronClawError('NOT_CONFIRMED', result.reason);
    return sandbox.workspaceApply({ digest: request.digest }, { confirmed: true, signal });
  }
}

function assertSameDiff(id: string, digest: string, diff: WorkspaceDiff): void {
  if (diff.digest !== digest)
    throw new IronClawError(
      'WORKSPACE_CHANGED',
      `sandbox ${id}'s workspace changed since its diff was shown (${digest.slice(0, 12)}, now ${diff.digest.slice(0, 12)}); nothing was written: look at the diff again`,
    );
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
