import {
  cidr,
  formatIp,
  inCidr,
  sameIp,
  parseIp,
  type Cidr,
  type IpAddress,
} from './ip-address.js';

/**
 * Why an address is not a destination the egress proxy dials on a name's behalf: everything
 * that is not a public unicast host. A box that may reach `example.com` must not reach the
 * host's own services, the LAN, the cloud's metadata service or anything else behind the
 * host, by a name that resolves there (DNS rebinding) or by a literal.
 */
export type SpecialAddressClass =
  | 'cloud-metadata'
  | 'unspecified'
  | 'loopback'
  | 'link-local'
  | 'multicast'
  | 'broadcast'
  | 'private'
  | 'shared'
  | 'reserved'
  | 'documentation'
  | 'tunnel';

const METADATA: readonly [string, string][] = [
  ['169.254.169.254', 'the cloud metadata service (AWS, GCP, Azure, OpenStack, Oracle)'],
  ['169.254.170.2', 'the AWS ECS task metadata service'],
  ['169.254.169.253', 'the AWS VPC DNS resolver'],
  ['100.100.100.200', 'the Alibaba Cloud metadata service'],
  ['fd00:ec2::254', 'the AWS IPv6 metadata service'],
  ['fd00:ec2::253', 'the AWS IPv6 DNS resolver'],
];
const METADATA_IPS = METADATA.map(([text, what]) => ({ ip: parseIp(text)!, what }));

const V4: readonly [string, SpecialAddressClass][] = [
  ['0.0.0.0/8', 'unspecified'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'shared'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'reserved'],
  ['192.0.2.0/24', 'documentation'],
  ['192.88.99.0/24', 'tunnel'],
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'reserved'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['224.0.0.0/4', 'multicast'],
  ['255.255.255.255/32', 'broadcast'],
  ['240.0.0.0/4', 'reserved'],
];
const V6: readonly [string, SpecialAddressClass][] = [
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['64:ff9b:1::/48', 'private'],
  ['100::/64', 'reserved'],
  ['2001::/32', 'tunnel'],
  ['2001:db8::/32', 'documentation'],
  ['3fff::/20', 'documentation'],
  ['fc00::/7', 'private'],
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'private'],
  ['ff00::/8', 'multicast'],
];
const V4_BLOCKS = V4.map(([text, kind]) => ({ block: cidr(text), kind }));
const V6_BLOCKS = V6.map(([text, kind]) => ({ block: cidr(text), kind }));

/** IPv6 forms that carry an IPv4 address, and where: the embedded address is what is reached. */
const EMBEDDING: readonly { block: Cidr; offset: number; what: string }[] = [
  { block: cidr('::ffff:0:0/96'), offset: 12, what: 'IPv4-mapped' },
  { block: cidr('::/96'), offset: 12, what: 'IPv4-compatible' },
  { block: cidr('64:ff9b::/96'), offset: 12, what: 'NAT64' },
  { block: cidr('2002::/16'), offset: 2, what: '6to4' },
];

export interface SpecialAddress {
  readonly kind: SpecialAddressClass;
  /** For a person: `127.0.0.1 is a loopback address`, naming the embedded address if any. */
  readonly reason: string;
}

/** Undefined for a public unicast address; else what kind of address it is, and why. */
export function classifyAddress(ip: IpAddress): SpecialAddress | undefined {
  const shown = formatIp(ip);
  const metadata = METADATA_IPS.find((m) => sameIp(m.ip, ip));
  if (metadata) return { kind: 'cloud-metadata', reason: `${shown} is ${metadata.what}` };
  if (ip.family === 4) {
    const hit = V4_BLOCKS.find(({ block }) => inCidr(ip, block));
    return hit && { kind: hit.kind, reason: `${shown} is ${article(hit.kind)} address` };
  }
  for (const { block, offset, what } of EMBEDDING) {
    // :: and ::1 sit inside ::/96 but are themselves, not IPv4 addresses.
    if (!inCidr(ip, block) || (what === 'IPv4-compatible' && ip.bytes[12] === 0)) continue;
    const v4: IpAddress = { family: 4, bytes: ip.bytes.slice(offset, offset + 4) };
    const inner = classifyAddress(v4);
    return inner && { kind: inner.kind, reason: `${shown} is the ${what} form of ${inner.reason}` };
  }
  const hit = V6_BLOCKS.find(({ block }) => inCidr(ip, block));
  return hit && { kind: hit.kind, reason: `${shown} is ${article(hit.kind)} address` };
}

function article(kind: SpecialAddressClass): string {
  const words: Record<SpecialAddressClass, string> = {
    'cloud-metadata': 'a cloud metadata',
    unspecified: 'an unspecified',
    loopback: 'a loopback',
    'link-local': 'a link-local',
    multicast: 'a multicast',
    broadcast: 'a broadcast',
    private: 'a private-range',
    shared: 'a shared (carrier-grade NAT)',
    reserved: 'a reserved',
    documentation: 'a documentation-only',
    tunnel: 'a tunnel relay',
  };
  return words[kind];
}

/** Classes that can never be a destination, even when a rule names them. */
export const NEVER_DESTINATIONS: ReadonlySet<SpecialAddressClass> = new Set([
  'unspecified',
  'multicast',
  'broadcast',
]);
