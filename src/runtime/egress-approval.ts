import type { ApprovalBroker } from '../approval/approval-broker.js';
import type { PendingApproval } from '../approval/approval-types.js';
import type { AllowRule } from '../core/net/allow-rule.js';
import { formatHost } from '../core/net/host-name.js';
import { allowListDecider, type Decider } from '../network/decider.js';

/** Who a sandbox's approvals name, and the project an "always" answer is saved for. */
export interface EgressApprovalContext {
  broker: ApprovalBroker;
  /** Who asks, on the diff card: the sandbox's owner (the daemon, an MCP client). */
  agent: string;
  project?: string | undefined;
  /** Where a sandbox's owner can be asked itself (an MCP client's user, by elicitation). */
  channels?: EgressChannels | undefined;
}

/** A person's channel for one approval: it answers through the broker itself. */
export type AskChannel = (pending: PendingApproval, signal: AbortSignal) => Promise<void>;

/** The channel, if any, that reaches the person behind a sandbox right now. */
export interface EgressChannels {
  channelFor(sandbox: string): AskChannel | undefined;
}

/**
 * The decider of a sandbox that sits under an approval cliff: what `--allow-net` allows passes,
 * and a host it does not list is a red action, put to a person: the sandbox's owner through its
 * own channel (an MCP client's user, while a call of that client runs in the sandbox) or whoever
 * watches (the dashboard); with neither it is denied at once, with the same reason as without the cliff. The
 * proxy holds the connection while the person decides; the address policy still applies to an
 * approved host (a yes never opens loopback or private addresses).
 */
export function approvingDecider(
  rules: readonly AllowRule[],
  context: EgressApprovalContext,
): Decider {
  const listed = allowListDecider(rules, { unlisted: 'ask' });
  const plain = allowListDecider(rules);
  return {
    async decide(request, signal) {
      const decision = await listed.decide(request, signal);
      if (decision.decision !== 'ask') return decision;
      const ask = context.channels?.channelFor(request.sandbox);
      if (ask === undefined && !context.broker.watched()) return plain.decide(request, signal);
      const result = await context.broker.request(
        {
          kind: 'egress',
          sandbox: request.sandbox,
          host: formatHost(request.host),
          port: request.port,
          protocol: request.protocol,
        },
        {
          agent: context.agent,
          project: context.project,
          signal,
          hasChannel: ask !== undefined,
          ask,
        },
      );
      return result.approved
        ? { decision: 'allow', reason: result.reason }
        : { decision: 'deny', reason: `${decision.reason}: ${result.reason}` };
    },
  };
}
