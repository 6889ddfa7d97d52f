import { parseArgs } from 'node:util';
import { EXIT_USAGE } from './cli-error.js';

export interface OptionDef {
  type: 'string' | 'boolean';
  description: string;
  /** Shown in help for string options, e.g. <size>. */
  value?: string;
  /** One letter, for `-e` beside `--env`. */
  short?: string;
  /** May be given more than once; its value is then the list of every one given. */
  multiple?: boolean;
}

/** What a command's options came to: a string, a flag, or a repeatable option's list. */
export type OptionValues = Record<string, string | boolean | string[] | undefined>;

/** One command of the CLI: its options, its arguments, and what it runs. */
export interface CommandDef {
  name: string;
  summary: string;
  /** Arguments after the options, as shown in help, e.g. "<id> -- <command...>". */
  args: string;
  options: Record<string, OptionDef>;
  run(options: OptionValues, positionals: string[]): Promise<number>;
  /** Worked examples with valid values, shown last in the command's help. */
  examples?: readonly string[];
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
  if (asksForHelp(args)) {
    process.stdout.write(commandHelp(command, prefix));
    return 0;
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: joinDashValues(args, command.options),
      options: Object.fromEntries(
        Object.entries(command.options).map(([name, option]) => [
          name,
          {
            type: option.type,
            ...(option.short === undefined ? {} : { short: option.short }),
            ...(option.multiple === true ? { multiple: true } : {}),
          },
        ]),
      ),
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    process.stderr.write(
      `ironclaw: ${parseFailure(error, command, prefix)}\nusage: ${prefix} ${command.name} ${usageLine(command)}\n`,
    );
    return EXIT_USAGE;
  }
  return command.run(parsed.values as OptionValues, parsed.positionals);
}

/** `--help` or `-h` among the command's own arguments (before `--`, which starts the payload's). */
export function asksForHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some((arg) => arg === '--help' || arg === '-h');
}

/**
 * Gives a value option its value even when that starts with a dash (`--timeout -5s`): node's
 * parseArgs refuses it as "ambiguous", where the value's own check says what is wrong with it.
 * A known option or `--` after a value option is left alone: the value is then missing.
 */
function joinDashValues(args: readonly string[], options: Record<string, OptionDef>): string[] {
  const joined: string[] = [];
  const shorts = new Set(Object.values(options).map((option) => option.short));
  const known = (arg: string | undefined): boolean =>
    arg === '--' ||
    (arg?.startsWith('--') === true && arg.slice(2).split('=')[0]! in options) ||
    (arg !== undefined && /^-[^-]/.test(arg) && shorts.has(arg[1]));
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!;
    if (arg === '--') {
      joined.push(...args.slice(index));
      break;
    }
    const next = args[index + 1];
    const option = arg.startsWith('--') ? options[arg.slice(2)] : undefined;
    if (option?.type === 'string' && next?.startsWith('-') && !known(next)) {
      joined.push(`${arg}=${next}`);
      index++;
    } else joined.push(arg);
  }
  return joined;
}

/** parseArgs' complaint in plain words, naming the option and what it wants. */
function parseFailure(error: unknown, command: CommandDef, prefix: string): string {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
  const flag = /'(-[^' ]+)/.exec(message)?.[1];
  const option = flag?.startsWith('--')
    ? command.options[flag.slice(2)]
    : Object.values(command.options).find((candidate) => `-${candidate.short}` === flag);
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && flag)
    return `unknown option ${flag}; \`${prefix} ${command.name} --help\` lists its options`;
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && flag && option)
    return option.type === 'string'
      ? `${flag} needs a value${option.value ? ` ${option.value}` : ''}: ${option.description}`
      : `${flag} takes no value`;
  return message;
}

export function usageLine(command: CommandDef): string {
  return `${Object.keys(command.options).length > 0 ? '[options] ' : ''}${command.args}`.trim();
}

export function commandHelp(command: CommandDef, prefix: string): string {
  const lines = [`usage: ${prefix} ${command.name} ${usageLine(command)}`, '', command.summary, ''];
  for (const [name, option] of Object.entries(command.options)) {
    const flag = `${option.short ? `-${option.short}, ` : ''}--${name}${option.value ? ` ${option.value}` : ''}`;
    const repeat = option.multiple ? ' (repeatable)' : '';
    lines.push(`  ${flag.padEnd(24)} ${option.description}${repeat}`);
  }
  if (command.examples?.length)
    lines.push('', 'examples:', ...command.examples.map((example) => `  ${example}`));
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
  // `help exec` is `exec --help`; `help sandbox create`, `sandbox create --help`.
  if (name === 'help' && rest.length > 0)
    return dispatch(commands, [...rest, '--help'], prefix, title);
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
