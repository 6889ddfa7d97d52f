import { resolve } from 'node:path';
import { unwrap } from '../core/errors.js';
import { parseBytes } from '../core/units.js';
import type { OptionDef } from './command.js';
import { usageError } from './cli-error.js';

/** `sandbox create --workspace DIR [--workspace-max SIZE]`. */
export const WORKSPACE_OPTIONS: Record<string, OptionDef> = {
  workspace: {
    type: 'string',
    value: '<dir>',
    description: 'copy this directory into /workspace (see `ironclaw diff` and `ironclaw apply`)',
  },
  'workspace-max': {
    type: 'string',
    value: '<size>',
    description: 'cap on the bytes copied in and read back (default 256m)',
  },
};

/** The daemon's workspace parameter: an absolute directory (the daemon's cwd is not ours). */
export function workspaceFlags(
  options: Record<string, string | boolean | string[] | undefined>,
): { dir: string; maxBytes?: number } | undefined {
  const dir = options.workspace;
  const max = options['workspace-max'];
  if (typeof dir !== 'string') {
    if (max !== undefined) throw usageError('--workspace-max needs --workspace');
    return undefined;
  }
  return {
    dir: resolve(dir),
    ...(typeof max === 'string' ? { maxBytes: unwrap(parseBytes(max, '--workspace-max')) } : {}),
  };
}
