import type { Config } from '../core/config.js';
import { DRIVERS, type DriverName } from '../core/isolation.js';
import { usageError } from './cli-error.js';

/** The config file's bound on `pool.size` (src/core/config.ts), checked here for a clear message. */
const MAX_POOL_SIZE = 64;

/** `--driver <name>`: one of the drivers this version has. */
export function parseDriverFlag(value: string): DriverName {
  const driver = DRIVERS.find((name) => name === value);
  if (!driver)
    throw usageError(`invalid --driver ${JSON.stringify(value)}: use one of ${DRIVERS.join(', ')}`);
  return driver;
}

/** `--pool <n>`: ready sandboxes to keep warm. */
export function parsePoolFlag(value: string): number {
  // Digits only: Number() would also take '', '0x10' and '1e1'.
  const size = /^\d{1,3}$/.test(value) ? Number(value) : NaN;
  if (!(size >= 0 && size <= MAX_POOL_SIZE))
    throw usageError(`invalid --pool ${JSON.stringify(value)}: use 0 to ${MAX_POOL_SIZE}`);
  return size;
}

/** The flags that override the config file (flags > env > file > defaults), where a command has them. */
export function configFlags(flags: {
  driver?: string | boolean | string[] | undefined;
  pool?: string | boolean | string[] | undefined;
}): Config {
  const config: Config = {};
  if (typeof flags.driver === 'string') config.driver = parseDriverFlag(flags.driver);
  if (typeof flags.pool === 'string') config.pool = { size: parsePoolFlag(flags.pool) };
  return config;
}
