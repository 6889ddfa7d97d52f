import { readFile } from 'node:fs/promises';
import { posix } from 'node:path';
import { unwrap } from '../core/errors.js';
import type { BoxMount } from '../host/box-process.js';
import { checkBoxEnv } from '../host/box-mounts.js';
import { usageError } from './cli-error.js';
import type { OptionValues } from './command.js';
import { parseMount } from './mount-flag.js';

/** An env file is a handful of lines; a larger one is a mistake (a binary, the wrong file). */
const MAX_ENV_FILE_BYTES = 1024 * 1024;

export interface BoxFlags {
  env?: Record<string, string>;
  cwd?: string;
  mounts?: BoxMount[];
}

/**
 * The -e, --env-file, -w and -v of a command line, checked: --env-file first, then each -e over
 * it (as docker does), names as the box accepts them, the directory absolute and normal.
 */
export async function parseBoxFlags(options: OptionValues): Promise<BoxFlags> {
  const env: Record<string, string> = {};
  for (const file of list(options['env-file'])) Object.assign(env, await readEnvFile(file));
  for (const spec of list(options.env)) {
    const [name, value] = splitEnv(spec, '-e');
    env[name] = value;
  }
  const flags: BoxFlags = {};
  if (Object.keys(env).length > 0) flags.env = unwrap(checkBoxEnv(env));
  const workdir = options.workdir;
  if (typeof workdir === 'string') {
    if (!workdir.startsWith('/') || workdir.includes('\0'))
      throw usageError(
        `invalid -w ${JSON.stringify(workdir)}: give an absolute directory of the box, e.g. /workspace/src`,
      );
    flags.cwd = posix.normalize(workdir);
  }
  const mounts = list(options.volume).map((spec) =>
    parseMount(spec, { flag: '-v', readOnlyByDefault: true }),
  );
  if (mounts.length > 0) flags.mounts = mounts;
  return flags;
}

function list(value: string | boolean | string[] | undefined): string[] {
  return Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
}

/** `NAME=VALUE`, or `NAME` for the caller's own value (an unset one is an error, not ""). */
function splitEnv(spec: string, where: string): [string, string] {
  const equals = spec.indexOf('=');
  if (equals === 0)
    throw usageError(`invalid ${where} ${JSON.stringify(spec)}: write NAME=VALUE or NAME`);
  if (equals > 0) return [spec.slice(0, equals), spec.slice(equals + 1)];
  const value = process.env[spec];
  if (value === undefined)
    throw usageError(
      `${where} ${spec}: ${spec} is not set in your environment; give a value (${spec}=VALUE) or set it first`,
    );
  return [spec, value];
}

async function readEnvFile(path: string): Promise<Record<string, string>> {
  const text = await readFile(path).then(
    (data) => {
      if (data.length > MAX_ENV_FILE_BYTES)
        throw usageError(`--env-file ${path} is larger than ${MAX_ENV_FILE_BYTES} bytes`);
      return data.toString('utf8');
    },
    (error: NodeJS.ErrnoException) => {
      throw usageError(`cannot read --env-file ${path}: ${error.message}`);
    },
  );
  const env: Record<string, string> = {};
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    const [name, value] = splitEnv(line, `--env-file ${path} line ${index + 1}:`);
    env[name] = value;
  }
  return env;
}
