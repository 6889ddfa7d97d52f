import type { OptionDef } from './command.js';

/*
 * The options that shape a box or a command in it (-e, --env-file, -w, -v), apart from their
 * parsing (box-flags.ts): main.ts lists them for every exec, and the one-shot hand-over bundle
 * must not load what parsing them needs.
 */

const ENV_OPTIONS = {
  env: {
    type: 'string',
    short: 'e',
    multiple: true,
    value: 'NAME[=VALUE]',
    description: 'set a variable in the box; NAME alone passes on your own value of NAME',
  },
  'env-file': {
    type: 'string',
    multiple: true,
    value: '<file>',
    description: 'read variables from a file: NAME=VALUE or NAME a line, # for comments',
  },
} as const satisfies Record<string, OptionDef>;

const WORKDIR_OPTION = {
  workdir: {
    type: 'string',
    short: 'w',
    value: '<dir>',
    description: 'run the command in this directory of the box (default /workspace)',
  },
} as const satisfies Record<string, OptionDef>;

const VOLUME_OPTION = {
  volume: {
    type: 'string',
    short: 'v',
    multiple: true,
    value: 'HOST:BOX[:ro|:rw]',
    description:
      'bind a host path into the box, read-only unless :rw. :rw lets the box change host files without the approval cliff (diff, apply): the one way around it, recorded in the audit log; bwrap only',
  },
} as const satisfies Record<string, OptionDef>;

/** `ironclaw exec`: variables, directory and mounts of its one command. */
export const EXEC_BOX_OPTIONS: Record<string, OptionDef> = {
  ...ENV_OPTIONS,
  ...WORKDIR_OPTION,
  ...VOLUME_OPTION,
};
/** `sandbox create`: variables of every command the box runs, and mounts. */
export const CREATE_BOX_OPTIONS: Record<string, OptionDef> = { ...ENV_OPTIONS, ...VOLUME_OPTION };
/** `sandbox exec`: variables and directory of one command in a box that already exists. */
export const SANDBOX_EXEC_OPTIONS: Record<string, OptionDef> = {
  ...ENV_OPTIONS,
  ...WORKDIR_OPTION,
};
