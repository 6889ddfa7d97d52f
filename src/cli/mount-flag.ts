import { homedir } from 'node:os';
import { resolve } from 'node:path';
import type { BoxMount } from '../host/box-process.js';
import { usageError } from './cli-error.js';

/**
 * `HOST:BOX[:ro|:rw]`; HOST may start with ~/ (client configs run no shell to expand it). The
 * mode a spec gives no suffix is the caller's: `-v` defaults to read-only, `wrap --mount` (which
 * predates it) to read-write.
 */
export function parseMount(
  spec: string,
  options: { flag: string; readOnlyByDefault: boolean },
): BoxMount {
  const parts = spec.split(':');
  const mode =
    parts.length > 2 && (parts.at(-1) === 'ro' || parts.at(-1) === 'rw') ? parts.pop() : undefined;
  const guest = parts.pop();
  const host = parts.join(':');
  if (!guest || !host)
    throw usageError(
      `invalid ${options.flag} ${JSON.stringify(spec)}: write HOST:BOX, HOST:BOX:ro or HOST:BOX:rw, e.g. ~/notes:/data:ro`,
    );
  const expanded =
    host === '~' ? homedir() : host.startsWith('~/') ? `${homedir()}${host.slice(1)}` : host;
  return {
    host: resolve(expanded),
    guest,
    readOnly: mode === undefined ? options.readOnlyByDefault : mode === 'ro',
  };
}
