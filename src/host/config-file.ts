import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  type Config,
  CONFIG_ENV,
  CONFIG_KEYS,
  configFromEnv,
  ConfigSchema,
  resolveConfig,
  type ResolvedConfig,
} from '../core/config.js';
import { IronClawError } from '../core/errors.js';
import { formatIssues } from '../protocol/format-issues.js';

const MAX_CONFIG_BYTES = 64 * 1024;

export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.IRONCLAW_CONFIG) return env.IRONCLAW_CONFIG;
  return join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'ironclaw', 'config.json');
}

/**
 * Reads the configuration once: file, then environment over it, each checked by the same
 * schema. A missing file is no configuration; a broken one is an error that names the file.
 */
export async function loadConfig(
  flags: Config = {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<ResolvedConfig> {
  const path = configPath(env);
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' && !env.IRONCLAW_CONFIG) return undefined;
    throw new IronClawError(
      'INVALID_ARGUMENT',
      `cannot read the configuration file ${path}: ${error.message}`,
    );
  });
  const file = text === undefined ? {} : parse(text, path);
  const fromEnv = parse(configFromEnv(env), undefined);
  return resolveConfig(file, fromEnv, flags);
}

/** Checks one layer: the file (`path`), or the environment (undefined), named as the user wrote it. */
function parse(input: string | Config, path: string | undefined): Config {
  let raw: unknown = input;
  const where = path === undefined ? 'IRONCLAW_* environment' : `configuration file ${path}`;
  if (typeof input === 'string') {
    if (input.length > MAX_CONFIG_BYTES)
      throw new IronClawError(
        'INVALID_ARGUMENT',
        `${where} is larger than ${MAX_CONFIG_BYTES} bytes`,
      );
    try {
      raw = JSON.parse(input);
    } catch (error) {
      throw new IronClawError(
        'INVALID_ARGUMENT',
        `${where} is not JSON: ${(error as Error).message}`,
      );
    }
  }
  const parsed = ConfigSchema.safeParse(raw, { reportInput: true });
  if (parsed.success) return parsed.data;
  const unknownKey = parsed.error.issues.some((issue) => issue.code === 'unrecognized_keys');
  const issues = formatIssues(parsed.error, {
    keyName: (key) => (path === undefined ? (CONFIG_ENV[key] ?? key) : key),
  });
  throw new IronClawError(
    'INVALID_ARGUMENT',
    `invalid ${where}: ${issues}${unknownKey ? `; its keys are ${CONFIG_KEYS.join(', ')}` : ''}`,
  );
}
