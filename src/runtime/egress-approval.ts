import type { ApprovalBroker } from '../approval/approval-broker.js';
import type { AllowRule } from '../core/net/allow-rule.js';
import { formatHost } from '../core/net/host-name.js';
import { allowListDecider, type Decider } from '../network/decider.js';

/** Who a sandbox's approvals name, and the project an "always" answer is saved for. */
export interface EgressApprovalContext {
  broker: ApprovalBroker;
  /** Who asks, on the diff card: the sandbox's owner (the daemon, an MCP client). */
  agent: string;
  project?: string | undefined;
}

/**
 * The decider of a sandbox that sits under an approval cliff: what `--allow-net` allows passes,
 * and a host it does not list is a red action, put to a person while someone watches (the
 * dashboard) and denied at once otherwise, with the same reason as without the cliff. The
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
      if (!context.broker.watched()) return plain.decide(request, signal);
      const result = await context.broker.request(
        {
          kind: 'egress',
          sandbox: request.sandbox,
          host: formatHost(request.host),
          port: request.port,
          protocol: request.protocol,
        },
        { agent: context.agent, project: context.project, signal },
      );
      return result.approved
        ? { decision: 'allow', reason: result.reason }
        : { decision: 'deny', reason: `${decision.reason}: ${result.reason}` };
    },
  };
}
