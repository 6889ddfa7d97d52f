import type { Socket } from 'node:net';
import { toIronClawError } from '../core/errors.js';
import { formatHost, parseHost } from '../core/net/host-name.js';
import { formatIp, type IpAddress } from '../core/net/ip-address.js';
import { checkAddress, type AddressPolicy } from './address-policy.js';
import type { Decider, EgressProtocol } from './decider.js';
import type { Dialer } from './dialer.js';
import type { Resolver } from './resolver.js';

/** Everything the gate needs to turn a request into a connection, or a refusal. */
export interface GateContext {
  readonly sandbox: string;
  readonly decider: Decider;
  readonly addressPolicy: AddressPolicy;
  readonly resolver: Resolver;
  readonly dialer: Dialer;
  readonly connectTimeoutMs: number;
}

/**
 * Why a connection was not made. `too-large` and `invalid` are a malformed request, `denied`
 * and `address` policy (the box may not go there); the others are the network's answer for a
 * destination that was allowed.
 */
export type RefusalKind =
  'too-large' | 'invalid' | 'denied' | 'address' | 'unresolved' | 'unreachable' | 'timeout';

export interface GateTarget {
  /** The host as the box wrote it: a name, or an IP literal (IPv6 with or without brackets). */
  readonly host: string;
  readonly port: number;
  readonly protocol: EgressProtocol;
}

export type GateResult =
  | { ok: true; host: string; socket: Socket; address: string; reason: string }
  | {
      ok: false;
      host: string;
      kind: RefusalKind;
      reason: string;
      errno?: string;
      address?: string;
    };

/**
 * The one path from a box's request to a socket: parse the host, ask the decider, resolve a
 * name (only after an allow), check every address it resolved to, and dial the checked ones
 * in order. Nothing is resolved for a denied request, and nothing is dialed that was not
 * checked: the dialer gets IP literals only.
 */
export async function openEgress(
  target: GateTarget,
  context: GateContext,
  signal: AbortSignal,
): Promise<GateResult> {
  const shownAsked = target.host.slice(0, 300);
  const parsed = parseHost(target.host);
  if (!parsed.ok) return { ok: false, host: shownAsked, kind: 'invalid', reason: parsed.message };
  const host = formatHost(parsed.value);
  if (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535)
    return { ok: false, host, kind: 'invalid', reason: `port ${target.port} is not 1 to 65535` };
  const request = {
    sandbox: context.sandbox,
    host: parsed.value,
    port: target.port,
    protocol: target.protocol,
  };
  let decision;
  try {
    decision = await context.decider.decide(request, signal);
  } catch (error) {
    signal.throwIfAborted();
    const why = toIronClawError(error).message;
    return {
      ok: false,
      host,
      kind: 'denied',
      reason: `the egress decider failed, so it is refused: ${why}`,
    };
  }
  if (decision.decision === 'deny')
    return { ok: false, host, kind: 'denied', reason: decision.reason };
  if (decision.decision === 'ask')
    return {
      ok: false,
      host,
      kind: 'denied',
      reason: `${decision.reason}; approval of network access is not available yet, so it is refused`,
    };
  let addresses: readonly IpAddress[];
  if (parsed.value.kind === 'ip') addresses = [parsed.value.ip];
  else {
    try {
      addresses = await context.resolver(parsed.value.name, signal);
    } catch (error) {
      signal.throwIfAborted();
      return { ok: false, host, kind: 'unresolved', reason: toIronClawError(error).message };
    }
    if (addresses.length === 0)
      return { ok: false, host, kind: 'unresolved', reason: `${host} has no IPv4 or IPv6 address` };
  }
  // Every address is checked before any is dialed: a name that mixes a public address with a
  // private one is refused whole, not tried until the private one answers.
  const checked: IpAddress[] = [];
  for (const ip of addresses) {
    const verdict = checkAddress(ip, target.port, host, context.addressPolicy);
    if (!verdict.ok)
      return { ok: false, host, kind: 'address', reason: verdict.message, address: formatIp(ip) };
    checked.push(verdict.value);
  }
  let last: { kind: RefusalKind; reason: string; errno?: string; address: string } | undefined;
  for (const ip of checked) {
    const address = formatIp(ip);
    const attempt = AbortSignal.any([signal, AbortSignal.timeout(context.connectTimeoutMs)]);
    try {
      const socket = await context.dialer(address, target.port, attempt);
      return { ok: true, host, socket, address, reason: decision.reason };
    } catch (error) {
      signal.throwIfAborted();
      const cause = (error as { cause?: NodeJS.ErrnoException }).cause;
      last = attempt.aborted
        ? {
            kind: 'timeout',
            reason: `connecting to ${address}:${target.port} timed out after ${context.connectTimeoutMs} ms`,
            address,
          }
        : {
            kind: 'unreachable',
            reason: toIronClawError(error).message,
            address,
            ...(cause?.code ? { errno: cause.code } : {}),
          };
    }
  }
  return { ok: false, host, ...last! };
}
