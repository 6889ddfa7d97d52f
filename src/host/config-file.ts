import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  type Config,
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
  const file = text === undefined ? {} : parse(text, path, 'the configuration file');
  const fromEnv = parse(configFromEnv(env), 'the environment', 'IRONCLAW_* variables');
  return resolveConfig(file, fromEnv, flags);
}

function parse(input: string | Config, where: string, what: string): Config {
  let raw: unknown = input;
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
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success)
    throw new IronClawError(
      'INVALID_ARGUMENT',
      `invalid ${what} (${where}): ${formatIssues(parsed.error)}`,
    );
  return parsed.data;
}
