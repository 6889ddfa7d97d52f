import { parseArgs } from 'node:util';
import { EXIT_USAGE } from './cli-error.js';

export interface OptionDef {
  type: 'string' | 'boolean';
  description: string;
  /** Shown in help for string options, e.g. <size>. */
  value?: string;
}

/** One command of the CLI: its options, its arguments, and what it runs. */
export interface CommandDef {
  name: string;
  summary: string;
  /** Arguments after the options, as shown in help, e.g. "<id> -- <command...>". */
  args: string;
  options: Record<string, OptionDef>;
  run(
    options: Record<string, string | boolean | undefined>,
    positionals: string[],
  ): Promise<number>;
  /** For a command with subcommands of its own: takes the raw arguments instead of `run`. */
  subcommands?: (args: string[]) => Promise<number>;
}

/**
 * Parses with node's own util.parseArgs (strict: an unknown option is an error, never ignored)
 * and runs the command. Kept free of third-party parsers: `ironclaw exec` starts faster.
 */
export async function runCommand(
  command: CommandDef,
  args: string[],
  prefix: string,
): Promise<number> {
  if (args.includes('--help') && !args.slice(0, args.indexOf('--help')).includes('--')) {
    process.stdout.write(commandHelp(command, prefix));
    return 0;
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args,
      options: Object.fromEntries(
        Object.entries(command.options).map(([name, option]) => [name, { type: option.type }]),
      ),
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    process.stderr.write(
      `ironclaw: ${message}\nusage: ${prefix} ${command.name} ${usageLine(command)}\n`,
    );
    return EXIT_USAGE;
  }
  return command.run(
    parsed.values as Record<string, string | boolean | undefined>,
    parsed.positionals,
  );
}

export function usageLine(command: CommandDef): string {
  return `${Object.keys(command.options).length > 0 ? '[options] ' : ''}${command.args}`.trim();
}

export function commandHelp(command: CommandDef, prefix: string): string {
  const lines = [`usage: ${prefix} ${command.name} ${usageLine(command)}`, '', command.summary, ''];
  for (const [name, option] of Object.entries(command.options)) {
    const flag = `--${name}${option.value ? ` ${option.value}` : ''}`;
    lines.push(`  ${flag.padEnd(24)} ${option.description}`);
  }
  return `${lines.join('\n')}\n`;
}

export function listHelp(title: string, prefix: string, commands: readonly CommandDef[]): string {
  const lines = [title, '', `usage: ${prefix} <command> [options]`, '', 'commands:'];
  for (const command of commands) lines.push(`  ${command.name.padEnd(10)} ${command.summary}`);
  lines.push('', `Run \`${prefix} <command> --help\` for a command's options.`);
  return `${lines.join('\n')}\n`;
}

/** Dispatches to a command by name, or prints the list. */
export async function dispatch(
  commands: readonly CommandDef[],
  args: string[],
  prefix: string,
  title: string,
): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(listHelp(title, prefix, commands));
    return name === undefined ? EXIT_USAGE : 0;
  }
  const command = commands.find((candidate) => candidate.name === name);
  if (!command) {
    process.stderr.write(
      `ironclaw: unknown command ${JSON.stringify(name)}; commands: ${commands.map((c) => c.name).join(', ')}\n`,
    );
    return EXIT_USAGE;
  }
  return command.subcommands ? command.subcommands(rest) : runCommand(command, rest, prefix);
}
