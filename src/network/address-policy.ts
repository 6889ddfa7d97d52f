import { networkInterfaces } from 'node:os';
import { classifyAddress, NEVER_DESTINATIONS } from '../core/net/address-class.js';
import type { AllowRule } from '../core/net/allow-rule.js';
import type { Check } from '../core/errors.js';
import { formatIp, parseIp, sameIp, unmapIpv4, type IpAddress } from '../core/net/ip-address.js';
import { DNS_SENTINEL_IPV4 } from '../protocol/dns-stub.js';

const SENTINEL = parseIp(DNS_SENTINEL_IPV4)!;

/** Where the proxy may connect after the decider allowed a destination. */
export interface AddressPolicy {
  /** Address rules (`127.0.0.1:8080`): the only way to reach a special address. */
  readonly rules: readonly AllowRule[];
  /** The host's own addresses; os.networkInterfaces() unless a test says. */
  readonly hostAddresses?: () => readonly IpAddress[];
}

/**
 * Whether the proxy may dial `ip`:`port` for `asked` (the name or literal the box asked for).
 * Refused, unless an address rule names exactly this address and port: the host's own
 * addresses and every special address (address-class.ts). Unspecified, multicast and broadcast
 * addresses, and the DNS stub's sentinel, are refused even then: they are never a host.
 */
export function checkAddress(
  ip: IpAddress,
  port: number,
  asked: string,
  policy: AddressPolicy,
): Check<IpAddress> {
  const address = unmapIpv4(ip);
  const shown = formatIp(address);
  const refuse = (why: string): Check<IpAddress> => ({
    ok: false,
    code: 'INVALID_ARGUMENT',
    message: asked === shown ? why : `${asked} resolves to ${shown}: ${why}`,
  });
  if (sameIp(address, SENTINEL))
    return refuse(
      `${shown} is the in-box DNS stub's placeholder, not a real host: the tool resolved the name in the box and connected to the address; make it send the name to the proxy (HTTP_PROXY and HTTPS_PROXY, or ALL_PROXY=socks5h://…)`,
    );
  const special = classifyAddress(address);
  if (special && NEVER_DESTINATIONS.has(special.kind))
    return refuse(`${special.reason}, never a destination`);
  const named = policy.rules.some(
    (rule) => rule.kind === 'address' && rule.port === port && sameIp(rule.ip, address),
  );
  if (named) return { ok: true, value: address };
  const hint = `; only a rule naming ${address.family === 6 ? `[${shown}]` : shown}:${port} allows it`;
  if (special) return refuse(`${special.reason}${hint}`);
  const own = (policy.hostAddresses ?? localAddresses)().some((mine) => sameIp(mine, address));
  if (own) return refuse(`${shown} is an address of this host${hint}`);
  return { ok: true, value: address };
}

let cached: { at: number; addresses: IpAddress[] } | undefined;

/** This host's interface addresses, re-read at most once a second (they change with DHCP). */
export function localAddresses(): IpAddress[] {
  const now = Date.now();
  if (cached && now - cached.at < 1000) return cached.addresses;
  const addresses = Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .map((info) => parseIp(info.address.replace(/%.*$/, '')))
    .filter((ip): ip is IpAddress => ip !== undefined)
    .map(unmapIpv4);
  cached = { at: now, addresses };
  return addresses;
}
