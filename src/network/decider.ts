import { findAllowRule, formatAllowRule, type AllowRule } from '../core/net/allow-rule.js';
import { formatHost, type Host } from '../core/net/host-name.js';

/** How the box asked: a plain HTTP request, an HTTP CONNECT tunnel, or a SOCKS5 CONNECT. */
export type EgressProtocol = 'http' | 'connect' | 'socks5';

/** One connection the box asks the proxy for, before anything is resolved or dialed. */
export interface EgressRequest {
  readonly sandbox: string;
  readonly host: Host;
  readonly port: number;
  readonly protocol: EgressProtocol;
}

/**
 * The decider's answer. `ask` means a person should decide (the approval cliff, its own
 * issue); until that exists the proxy refuses it, giving the reason.
 */
export interface Decision {
  readonly decision: 'allow' | 'deny' | 'ask';
  readonly reason: string;
}

/**
 * Answers whether a destination may be reached at all. It sees names, not addresses: what a
 * name resolves to is the address policy's business (address-policy.ts), checked after an
 * allow. A decider may be asynchronous (an approval waits for a person); the signal ends the
 * wait when the client goes away or the proxy closes.
 */
export interface Decider {
  decide(request: EgressRequest, signal: AbortSignal): Decision | Promise<Decision>;
}

/**
 * The `--allow-net` decider: a request a rule allows is allowed, naming the rule; any other is
 * denied, or, with `unlisted: 'ask'`, left to a person.
 */
export function allowListDecider(
  rules: readonly AllowRule[],
  options: { unlisted?: 'deny' | 'ask' } = {},
): Decider {
  return {
    decide(request) {
      const target = `${formatHost(request.host)}:${request.port}`;
      const rule = findAllowRule(rules, request.host, request.port);
      if (rule)
        return { decision: 'allow', reason: `the rule ${formatAllowRule(rule)} allows ${target}` };
      const listed =
        rules.length === 0
          ? 'no --allow-net rules are set'
          : `no --allow-net rule allows ${target}`;
      const hint =
        request.host.kind === 'ip'
          ? `an address is reached only by a rule naming it with its port (${target})`
          : `allow it with --allow-net ${formatHost(request.host)}${[80, 443].includes(request.port) ? '' : `:${request.port}`}`;
      return options.unlisted === 'ask'
        ? { decision: 'ask', reason: `${target} needs approval: ${listed}` }
        : { decision: 'deny', reason: `${listed}; ${hint}` };
    },
  };
}
