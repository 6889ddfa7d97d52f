/**
 * IP addresses as bytes, parsed strictly: dotted-quad IPv4 with decimal parts only (no `0x7f.1`,
 * `2130706433` or `010.0.0.1`, forms inet_aton accepts and that have smuggled loopback past
 * string checks elsewhere), and RFC 4291 IPv6 text with an optional trailing dotted quad. No zone
 * ids: a destination with `%eth0` is a host-local detail a box must not choose.
 */
export interface IpAddress {
  readonly family: 4 | 6;
  /** 4 or 16 bytes, network order. */
  readonly bytes: Uint8Array;
}

export function parseIpv4(text: string): IpAddress | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const bytes = new Uint8Array(4);
  for (const [i, part] of parts.entries()) {
    if (!/^(0|[1-9]\d{0,2})$/.test(part)) return undefined;
    const value = Number(part);
    if (value > 255) return undefined;
    bytes[i] = value;
  }
  return { family: 4, bytes };
}

export function parseIpv6(text: string): IpAddress | undefined {
  if (!/^[0-9a-fA-F:.]{2,45}$/.test(text)) return undefined;
  let body = text;
  if (text.includes('.')) {
    // A trailing dotted quad stands for the last two groups: rewrite it as those groups.
    const lastColon = text.lastIndexOf(':');
    const v4 = parseIpv4(text.slice(lastColon + 1));
    if (!v4 || lastColon < 0) return undefined;
    const [a = 0, b = 0, c = 0, d = 0] = v4.bytes;
    body = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = body.split('::');
  if (halves.length > 2) return undefined;
  const groups = (half: string): number[] | undefined => {
    if (half === '') return [];
    const out: number[] = [];
    for (const group of half.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined;
      out.push(Number.parseInt(group, 16));
    }
    return out;
  };
  const head = groups(halves[0] ?? '');
  const rest = halves.length === 2 ? groups(halves[1] ?? '') : [];
  if (!head || !rest) return undefined;
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...new Array<number>(missing).fill(0), ...rest];
  const bytes = new Uint8Array(16);
  all.forEach((group, i) => {
    bytes[i * 2] = group >> 8;
    bytes[i * 2 + 1] = group & 0xff;
  });
  return { family: 6, bytes };
}

/** An IPv4 or IPv6 literal (IPv6 without brackets), or undefined when `text` is neither. */
export function parseIp(text: string): IpAddress | undefined {
  return text.includes(':') ? parseIpv6(text) : parseIpv4(text);
}

/** Canonical text: dotted quad, or RFC 5952 IPv6 (lower case, longest zero run as `::`). */
export function formatIp(ip: IpAddress): string {
  if (ip.family === 4) return ip.bytes.join('.');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((ip.bytes[i] ?? 0) << 8) | (ip.bytes[i + 1] ?? 0));
  let best = { at: -1, length: 1 };
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.length) best = { at: i, length: j - i };
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.at < 0) return hex.join(':');
  return `${hex.slice(0, best.at).join(':')}::${hex.slice(best.at + best.length).join(':')}`;
}

/** A CIDR block, `10.0.0.0/8` or `fc00::/7`, as bytes and a prefix length. */
export interface Cidr {
  readonly ip: IpAddress;
  readonly prefix: number;
}

export function cidr(text: string): Cidr {
  const [address = '', prefix = ''] = text.split('/');
  const ip = parseIp(address);
  if (!ip) throw new Error(`bad CIDR ${text}`);
  return { ip, prefix: Number(prefix) };
}

export function inCidr(ip: IpAddress, block: Cidr): boolean {
  if (ip.family !== block.ip.family) return false;
  for (let bit = 0; bit < block.prefix; bit += 8) {
    const bits = Math.min(8, block.prefix - bit);
    const mask = (0xff << (8 - bits)) & 0xff;
    if (((ip.bytes[bit / 8] ?? 0) & mask) !== ((block.ip.bytes[bit / 8] ?? 0) & mask)) return false;
  }
  return true;
}

export function sameIp(a: IpAddress, b: IpAddress): boolean {
  return a.family === b.family && a.bytes.every((byte, i) => byte === b.bytes[i]);
}

/** The IPv4 address of an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`), which is that host. */
export function unmapIpv4(ip: IpAddress): IpAddress {
  const mapped =
    ip.family === 6 && ip.bytes.subarray(0, 10).every((b) => b === 0) && ip.bytes[10] === 0xff;
  return mapped && ip.bytes[11] === 0xff ? { family: 4, bytes: ip.bytes.slice(12) } : ip;
}
