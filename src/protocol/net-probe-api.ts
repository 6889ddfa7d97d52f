import * as z from 'zod/mini';

/**
 * The network self-test's probe (src/guest/net-probe.ts), run inside a box by `ironclaw doctor
 * --network`: what it is told to try (one JSON argument) and what it reports (one JSON line on
 * stdout). Shared by both sides so neither trusts the other's shape.
 */

const Port = z.number().check(z.int(), z.gte(1), z.lte(65535));
const Endpoint = z.object({ host: z.string().check(z.minLength(1)), port: Port });

export const NetProbeConfigSchema = z.object({
  /** The egress proxy as the box sees it (127.0.0.1:3128, bridged to the host). */
  proxy: Endpoint,
  /** The host server a rule allows: it answers `allowed <token>`. */
  allowed: Endpoint,
  /** A host server no rule allows: anything that reaches it, or its answer `denied <token>`, passed. */
  denied: Endpoint,
  /** The same on the host's IPv6 loopback; null when the host has none. */
  deniedIpv6: z.nullable(Endpoint),
  /** A UDP server on the host that answers every datagram with `denied <token>`. */
  udp: Endpoint,
  /** A name a rule allows on the denied server's port that resolves to loopback on the host. */
  loopbackName: z.string().check(z.minLength(1)),
  token: z.string().check(z.minLength(8)),
  /**
   * Also try addresses off loopback (the cloud metadata address, public resolvers): only inside
   * a box, where there is no route and nothing leaves it; never on the host.
   */
  offLoopback: z.boolean(),
});
export type NetProbeConfig = z.infer<typeof NetProbeConfigSchema>;

/** The attacks of issue 14 §7, and `allowed`: the allowed host must work. */
export const NET_PROBE_ATTACKS = [
  'allowed',
  'direct-tcp',
  'udp',
  'dns',
  'ipv6',
  'connect-denied',
  'relay',
  'ip-literal',
  'loopback-name',
  'metadata',
  'raw-socket',
] as const;
export type NetProbeAttack = (typeof NET_PROBE_ATTACKS)[number];

export const NetProbeResultSchema = z.object({
  attack: z.enum(NET_PROBE_ATTACKS),
  /** Whether traffic got through: wanted for `allowed`, a failed layer for every attack. */
  through: z.boolean(),
  /** Not tried, with the reason in `attempts` (no program in the box can do it). */
  skipped: z.optional(z.boolean()),
  /** Each attempt and what it met: `<what> -> <answer>`. */
  attempts: z.array(z.string()),
});
export type NetProbeResult = z.infer<typeof NetProbeResultSchema>;

export const NetProbeReportSchema = z.object({ results: z.array(NetProbeResultSchema) });
export type NetProbeReport = z.infer<typeof NetProbeReportSchema>;
