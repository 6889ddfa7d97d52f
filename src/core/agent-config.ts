import * as z from 'zod/mini';

/** The model API keys: read by the loop only, never passed on. */
const MODEL_KEYS = new Set(['OPENAI_API_KEY', 'ANTHROPIC_API_KEY']);

/** A price in US dollars per million tokens. */
const UsdPerMillion = z.number().check(z.gte(0), z.lte(10_000));

/** A name that prefixes its server's tools (`name__tool`): short, and safe in a tool name. */
const ServerName = z.string().check(
  z.regex(/^[a-z][a-z0-9-]{0,31}$/, {
    message: 'expected a short name of lowercase letters, digits and dashes, such as "files"',
  }),
);

/**
 * A third-party MCP server the agent uses, always run through `ironclaw wrap`: the fields are
 * wrap's options (mounts, environment variable names, allowed hosts, tool policy file).
 */
export const AgentServerSchema = z.strictObject({
  name: ServerName.check(
    z.refine((name) => name !== 'ironclaw', { message: '"ironclaw" is IronClaw\'s own server' }),
  ),
  command: z.string().check(z.minLength(1)),
  args: z.optional(z.array(z.string())),
  /** `HOST:GUEST[:ro]`, as `ironclaw wrap --mount`. */
  mounts: z.optional(z.array(z.string().check(z.minLength(3)))),
  /** Names of host environment variables whose values go into the box. */
  env: z.optional(
    z.array(
      z.string().check(
        z.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'expected an environment variable name' }),
        z.refine((name) => !MODEL_KEYS.has(name), {
          message: 'the model API keys never go to an MCP server',
        }),
      ),
    ),
  ),
  /** Hosts the server may reach, as `ironclaw wrap --allow-net`. */
  allowNet: z.optional(z.array(z.string().check(z.minLength(1)))),
  /** A tool policy file, as `ironclaw wrap --policy`. */
  policy: z.optional(z.string().check(z.minLength(1))),
});
export type AgentServer = z.infer<typeof AgentServerSchema>;

/** The `agent` section of the configuration file. */
export const AgentConfigSchema = z.strictObject({
  provider: z.optional(z.enum(['openai', 'anthropic'])),
  model: z.optional(z.string().check(z.minLength(1))),
  /**
   * Prices per model, for `--max-cost`: no price is known for an arbitrary model (a local one
   * costs nothing, a hosted one changes its prices), so the user states them.
   */
  prices: z.optional(
    z.record(
      z.string(),
      z.strictObject({ inputPerMTok: UsdPerMillion, outputPerMTok: UsdPerMillion }),
    ),
  ),
  servers: z.optional(
    z.array(AgentServerSchema).check(
      z.refine((servers) => new Set(servers.map((s) => s.name)).size === servers.length, {
        message: 'each server needs a name of its own',
      }),
    ),
  ),
});
export type AgentConfig = z.infer<typeof AgentConfigSchema>;

export interface ModelPrice {
  inputPerMTok: number;
  outputPerMTok: number;
}

export interface ResolvedAgentConfig {
  provider: 'openai' | 'anthropic';
  model: string | undefined;
  prices: Readonly<Record<string, ModelPrice>>;
  servers: readonly AgentServer[];
}

export const DEFAULT_AGENT_CONFIG: ResolvedAgentConfig = {
  provider: 'openai',
  model: undefined,
  prices: {},
  servers: [],
};

/** One layer over another: scalars replace, prices merge per model, a server list replaces. */
export function layerAgentConfig(
  resolved: ResolvedAgentConfig,
  layer: AgentConfig | undefined,
): ResolvedAgentConfig {
  if (layer === undefined) return resolved;
  return {
    provider: layer.provider ?? resolved.provider,
    model: layer.model ?? resolved.model,
    prices: { ...resolved.prices, ...layer.prices },
    servers: layer.servers ?? resolved.servers,
  };
}
