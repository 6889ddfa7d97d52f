import { parseAllowRules } from './net/allow-rule.js';
import * as z from 'zod/mini';
import {
  AgentConfigSchema,
  DEFAULT_AGENT_CONFIG,
  layerAgentConfig,
  type ResolvedAgentConfig,
} from './agent-config.js';
import { type BoxUids, DEFAULT_BOX_UIDS } from './box-uids.js';
import { DRIVERS } from './isolation.js';
import { unwrap } from './errors.js';
import { parseAge, parseBytes } from './units.js';

/** A size such as 512m or 2g, or "none" for no limit. */
const SizeOrNone = z.string().check(
  z.refine((text) => text === 'none' || parseBytes(text).ok, {
    message: 'expected a size such as 512m or 2g, or "none"',
  }),
);

/** An age such as 30d or 12h, or "none" for no limit. */
const AgeOrNone = z.string().check(
  z.refine((text) => text === 'none' || parseAge(text).ok, {
    message: 'expected an age such as 30d or 12h, or "none"',
  }),
);

/**
 * The configuration file (JSON): `$IRONCLAW_CONFIG`, else `$XDG_CONFIG_HOME/ironclaw/config.json`
 * (`~/.config/ironclaw/config.json`). Resolution is flags > environment > file > defaults.
 */
export const ConfigSchema = z.strictObject({
  /** Driver for sandboxes that do not name one. */
  driver: z.optional(z.enum(DRIVERS)),
  pool: z.optional(
    z.strictObject({
      /** Ready sandboxes the daemon keeps warm. */
      size: z.optional(z.number().check(z.int(), z.gte(0), z.lte(64))),
    }),
  ),
  /** Host uid (and gid) every box shares as root with `boxUids: false`; never 0. */
  rootBoxUid: z.optional(z.number().check(z.int(), z.gte(1), z.lte(2 ** 32 - 2))),
  /**
   * As root, the range (like a subuid range) each box gets a host uid (and gid) of its own from,
   * so that RLIMIT_NPROC is each box's own budget; false: every box shares rootBoxUid (weaker).
   */
  boxUids: z.optional(
    z.union([
      z.literal(false),
      z
        .strictObject({
          first: z.number().check(z.int(), z.gte(1), z.lte(2 ** 32 - 2)),
          count: z.number().check(z.int(), z.gte(1), z.lte(2 ** 24)),
        })
        .check(
          z.refine((range) => range.first + range.count - 1 <= 2 ** 32 - 2, {
            message: 'the range must end at or below 4294967294',
          }),
        ),
    ]),
  ),
  /**
   * Egress rules (as --allow-net) of a long-lived sandbox (daemon, MCP) whose creator gives
   * none; absent or empty: no network. Checked as rules when the file is read.
   */
  allowNet: z.optional(
    z.array(z.string().check(z.maxLength(300))).check(
      z.maxLength(256),
      z.refine((rules) => parseAllowRules(rules).ok, {
        message: 'expected egress rules such as "pypi.org", "*.npmjs.org" or "github.com:22"',
      }),
    ),
  ),
  limits: z.optional(
    z.strictObject({
      /** Memory limit of a long-lived sandbox (daemon, MCP) whose creator gives none. */
      memory: z.optional(SizeOrNone),
    }),
  ),
  /** Retention of the audit store, applied by the daemon and MCP servers and `audit prune`. */
  audit: z.optional(
    z.strictObject({
      /** Records older than this go. */
      maxAge: z.optional(AgeOrNone),
      /** The oldest records go while the records together are larger than this. */
      maxSize: z.optional(SizeOrNone),
    }),
  ),
  /** `ironclaw agent`: the model, its prices, the MCP servers it uses besides IronClaw's. */
  agent: z.optional(AgentConfigSchema),
});
export type Config = z.infer<typeof ConfigSchema>;

export interface ResolvedConfig {
  driver: (typeof DRIVERS)[number];
  poolSize: number;
  rootBoxUid: number;
  /** Per-box host uids (as root) from this range; false: every box runs as rootBoxUid. */
  boxUids: BoxUids;
  /** Memory limit of a long-lived sandbox whose creator gives none; undefined: no limit. */
  defaultMemoryBytes: number | undefined;
  /** Egress rules of a long-lived sandbox whose creator gives none. */
  defaultAllowNet: readonly string[];
  /** Audit retention; undefined: no limit of that kind. */
  auditMaxAgeMs: number | undefined;
  auditMaxBytes: number | undefined;
  agent: ResolvedAgentConfig;
}

/** Long-lived sandboxes get this memory limit unless configured or asked otherwise. */
export const DEFAULT_SANDBOX_MEMORY_BYTES = 2 * 1024 ** 3;

export const DEFAULT_CONFIG: ResolvedConfig = {
  driver: 'bwrap',
  poolSize: 2,
  rootBoxUid: 65534,
  boxUids: DEFAULT_BOX_UIDS,
  defaultMemoryBytes: DEFAULT_SANDBOX_MEMORY_BYTES,
  defaultAllowNet: [],
  auditMaxAgeMs: 30 * 24 * 3600 * 1000,
  auditMaxBytes: 256 * 1024 ** 2,
  agent: DEFAULT_AGENT_CONFIG,
};

/** The environment variable that sets each key of the file (flags > environment > file). */
export const CONFIG_ENV: Readonly<Record<string, string>> = {
  driver: 'IRONCLAW_DRIVER',
  'pool.size': 'IRONCLAW_POOL_SIZE',
  'limits.memory': 'IRONCLAW_MEMORY',
  'audit.maxAge': 'IRONCLAW_AUDIT_MAX_AGE',
  'audit.maxSize': 'IRONCLAW_AUDIT_MAX_SIZE',
  'agent.provider': 'IRONCLAW_AGENT_PROVIDER',
  'agent.model': 'IRONCLAW_AGENT_MODEL',
};

/** Environment variables that override the file, as text to be checked like the file is. */
export function configFromEnv(env: Record<string, string | undefined>): Config {
  const config: Config = {};
  if (env.IRONCLAW_DRIVER !== undefined) config.driver = env.IRONCLAW_DRIVER as Config['driver'];
  const size = env.IRONCLAW_POOL_SIZE;
  // Not a number stays text, so the schema's complaint quotes what was given.
  if (size !== undefined)
    config.pool = { size: (/^\d+$/.test(size) ? Number(size) : size) as number };
  if (env.IRONCLAW_MEMORY !== undefined) config.limits = { memory: env.IRONCLAW_MEMORY };
  const [maxAge, maxSize] = [env.IRONCLAW_AUDIT_MAX_AGE, env.IRONCLAW_AUDIT_MAX_SIZE];
  if (maxAge !== undefined || maxSize !== undefined)
    config.audit = {
      ...(maxAge === undefined ? {} : { maxAge }),
      ...(maxSize === undefined ? {} : { maxSize }),
    };
  // Empty means unset, as a shell's `VAR= cmd` clears a setting for one run.
  const [provider, model] = [env.IRONCLAW_AGENT_PROVIDER, env.IRONCLAW_AGENT_MODEL];
  if (provider || model)
    config.agent = {
      ...(provider ? { provider: provider as 'openai' } : {}),
      ...(model ? { model } : {}),
    };
  return config;
}

/** Layers configs, later ones winning, over the defaults. */
export function resolveConfig(...layers: Config[]): ResolvedConfig {
  const resolved = { ...DEFAULT_CONFIG };
  for (const layer of layers) {
    if (layer.driver !== undefined) resolved.driver = layer.driver;
    if (layer.pool?.size !== undefined) resolved.poolSize = layer.pool.size;
    if (layer.rootBoxUid !== undefined) resolved.rootBoxUid = layer.rootBoxUid;
    if (layer.boxUids !== undefined)
      resolved.boxUids = layer.boxUids === false ? false : { ...layer.boxUids };
    if (layer.allowNet !== undefined) resolved.defaultAllowNet = [...layer.allowNet];
    const memory = layer.limits?.memory;
    if (memory !== undefined)
      resolved.defaultMemoryBytes = memory === 'none' ? undefined : unwrap(parseBytes(memory));
    const { maxAge, maxSize } = layer.audit ?? {};
    if (maxAge !== undefined)
      resolved.auditMaxAgeMs = maxAge === 'none' ? undefined : unwrap(parseAge(maxAge));
    if (maxSize !== undefined)
      resolved.auditMaxBytes = maxSize === 'none' ? undefined : unwrap(parseBytes(maxSize));
    resolved.agent = layerAgentConfig(resolved.agent, layer.agent);
  }
  return resolved;
}

/** Every key of the file, dotted, for an error that met an unknown one. */
export const CONFIG_KEYS: readonly string[] = [
  'driver',
  'pool.size',
  'rootBoxUid',
  'boxUids.first',
  'boxUids.count',
  'allowNet',
  'limits.memory',
  'audit.maxAge',
  'audit.maxSize',
  'agent.provider',
  'agent.model',
  'agent.prices',
  'agent.servers',
];
