import type { OptionDef } from './command.js';

/** `-i` and `-t` as `docker exec` has them; `-it` is both. */
export const INTERACTIVE_OPTIONS: Record<'interactive' | 'tty', OptionDef> = {
  interactive: {
    type: 'boolean',
    short: 'i',
    description: 'pass stdin on even when it is a terminal (it always is when it is not one)',
  },
  tty: {
    type: 'boolean',
    short: 't',
    description:
      'run the command in a pseudo-terminal made in the box (stdin must be a terminal): -it -- bash is an interactive shell; every driver',
  },
};
