import * as z from 'zod/mini';
import { DRIVERS } from './isolation.js';

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
  /** Host uid (and gid) boxes run as when IronClaw runs as root; never 0. */
  rootBoxUid: z.optional(z.number().check(z.int(), z.gte(1), z.lte(2 ** 32 - 2))),
});
export type Config = z.infer<typeof ConfigSchema>;

export interface ResolvedConfig {
  driver: (typeof DRIVERS)[number];
  poolSize: number;
  rootBoxUid: number;
}

export const DEFAULT_CONFIG: ResolvedConfig = { driver: 'bwrap', poolSize: 2, rootBoxUid: 65534 };

/** Environment variables that override the file, as text to be checked like the file is. */
export function configFromEnv(env: Record<string, string | undefined>): Config {
  const config: Config = {};
  if (env.IRONCLAW_DRIVER !== undefined) config.driver = env.IRONCLAW_DRIVER as Config['driver'];
  if (env.IRONCLAW_POOL_SIZE !== undefined) config.pool = { size: Number(env.IRONCLAW_POOL_SIZE) };
  return config;
}

/** Layers configs, later ones winning, over the defaults. */
export function resolveConfig(...layers: Config[]): ResolvedConfig {
  const resolved = { ...DEFAULT_CONFIG };
  for (const layer of layers) {
    if (layer.driver !== undefined) resolved.driver = layer.driver;
    if (layer.pool?.size !== undefined) resolved.poolSize = layer.pool.size;
    if (layer.rootBoxUid !== undefined) resolved.rootBoxUid = layer.rootBoxUid;
  }
  return resolved;
}
