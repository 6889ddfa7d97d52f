import type { McpServer, ServerContext } from '@modelcontextprotocol/server';
import type { ApprovalBroker } from '../approval/approval-broker.js';
import type { AskChannel, EgressChannels } from '../runtime/egress-approval.js';
import { approvalForm, scopeOf } from './approval-form.js';

/**
 * Who to ask about a sandbox's egress to an unlisted host: the user of the MCP client whose call
 * runs in that sandbox right now (its connection waits while the call does), by an elicitation
 * sent as part of that call. A sandbox with no call of an eliciting client running has no
 * channel: the broker's watchers (the dashboard) or nobody decide, as before.
 */
export class EgressAsks implements EgressChannels {
  readonly #channels = new Map<string, AskChannel[]>();

  channelFor(sandbox: string): AskChannel | undefined {
    return this.#channels.get(sandbox)?.at(-1);
  }

  /** Runs `call` with `channel` as the sandbox's channel (the latest running call's wins). */
  async during<T>(sandbox: string, channel: AskChannel | undefined, call: () => Promise<T>) {
    if (channel === undefined) return call();
    const list = this.#channels.get(sandbox) ?? [];
    list.push(channel);
    this.#channels.set(sandbox, list);
    try {
      return await call();
    } finally {
      list.splice(list.indexOf(channel), 1);
      if (list.length === 0) this.#channels.delete(sandbox);
    }
  }
}

/**
 * The channel of one tool call: a pushed elicitation/create to its client (a 2025-era client
 * that declared elicitation; a 2026-07-28 request cannot push one, and has none), answered
 * through the broker with the token of the approval. A decline, a cancel or a failed
 * elicitation is a deny.
 */
function elicitingChannel(
  server: McpServer,
  ctx: ServerContext,
  broker: ApprovalBroker | undefined,
): AskChannel | undefined {
  if (broker === undefined || server.server.getClientCapabilities()?.elicitation === undefined)
    return undefined;
  return async (pending, signal) => {
    const result = await ctx.mcpReq
      .elicitInput(
        { mode: 'form', ...approvalForm(pending, 'lets this one connection through') },
        { signal },
      )
      .catch(() => undefined);
    const content = result?.content;
    broker.answer({
      id: pending.card.id,
      token: pending.token,
      decision: result?.action === 'accept' && content?.decision === 'approve' ? 'approve' : 'deny',
      scope: scopeOf(content?.scope),
      by: 'elicitation',
    });
  };
}

/** Runs one call in `sandbox` with its client's user as the channel for egress asks. */
export function askingDuring<T>(
  server: McpServer,
  ctx: ServerContext,
  deps: { egressAsks?: EgressAsks | undefined; approvals?: ApprovalBroker | undefined },
  sandbox: string,
  call: () => Promise<T>,
): Promise<T> {
  if (deps.egressAsks === undefined) return call();
  return deps.egressAsks.during(sandbox, elicitingChannel(server, ctx, deps.approvals), call);
}
