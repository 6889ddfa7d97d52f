import type { CommandDef } from './command.js';
import { usageError } from './cli-error.js';
import { reportError } from './cli-error.js';

/** Second words of the commands that have them (their options are not completed). */
const SUBCOMMANDS: Readonly<Record<string, readonly string[]>> = {
  sandbox: ['create', 'exec', 'shell', 'cp', 'write', 'read', 'ls', 'stats', 'ports', 'rm', 'list'],
  image: ['build', 'list', 'rm'],
  policy: ['show'],
  audit: ['verify'],
  completion: ['bash', 'zsh', 'fish'],
};

const SHELLS = ['bash', 'zsh', 'fish'] as const;

/**
 * `ironclaw completion bash|zsh|fish`: a completion script for the shell, made from the
 * commands' own definitions, so it lists what this version has. Load it with
 * `source <(ironclaw completion bash)` (or zsh), `ironclaw completion fish | source`.
 */
export function completionCommand(
  positionals: readonly string[],
  commands: readonly CommandDef[],
): number {
  try {
    const shell = SHELLS.find((name) => name === positionals[0]);
    if (shell === undefined || positionals.length > 1)
      throw usageError(
        `say which shell: ironclaw completion ${SHELLS.join('|')}, e.g. source <(ironclaw completion bash)`,
      );
    const script = shell === 'fish' ? fishScript(commands) : bashScript(commands, shell === 'zsh');
    process.stdout.write(script);
    return 0;
  } catch (error) {
    return reportError(error);
  }
}

function optionWords(command: CommandDef): string {
  return Object.entries(command.options)
    .flatMap(([name, option]) => [`--${name}`, ...(option.short ? [`-${option.short}`] : [])])
    .concat('--help')
    .join(' ');
}

function bashScript(commands: readonly CommandDef[], zsh: boolean): string {
  const names = [...commands.map((command) => command.name), 'help'].join(' ');
  const subcommands = Object.entries(SUBCOMMANDS)
    .map(([name, words]) => `    ${name}) words="${words.join(' ')}" ;;`)
    .join('\n');
  const options = commands
    .map((command) => `    ${command.name}) words="${optionWords(command)}" ;;`)
    .join('\n');
  return `${zsh ? '#compdef ironclaw\nautoload -U +X bashcompinit && bashcompinit\n' : ''}# ironclaw completion ${zsh ? 'zsh' : 'bash'}: source <(ironclaw completion ${zsh ? 'zsh' : 'bash'})
_ironclaw() {
  local cur=\${COMP_WORDS[COMP_CWORD]} command=\${COMP_WORDS[1]} words=""
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${names}" -- "$cur"))
    return
  fi
  if [ "$COMP_CWORD" -eq 2 ] && [ "\${cur#-}" = "$cur" ]; then
    case "$command" in
${subcommands}
    help) words="${names}" ;;
    esac
    if [ -n "$words" ]; then
      COMPREPLY=($(compgen -W "$words" -- "$cur"))
      return
    fi
  fi
  if [ "\${cur#-}" != "$cur" ]; then
    case "$command" in
${options}
    esac
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
    return
  fi
  COMPREPLY=($(compgen -f -- "$cur"))
}
complete -o filenames -F _ironclaw ironclaw
`;
}

function fishScript(commands: readonly CommandDef[]): string {
  const quote = (text: string): string =>
    `'${text.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
  const lines = [
    '# ironclaw completion fish: ironclaw completion fish | source',
    'complete -c ironclaw -f',
  ];
  for (const command of commands) {
    lines.push(
      `complete -c ironclaw -n __fish_use_subcommand -a ${command.name} -d ${quote(command.summary)}`,
    );
    for (const [name, option] of Object.entries(command.options))
      lines.push(
        `complete -c ironclaw -n '__fish_seen_subcommand_from ${command.name}' -l ${name}${option.short ? ` -s ${option.short}` : ''}${option.type === 'string' ? ' -r' : ''} -d ${quote(option.description)}`,
      );
  }
  for (const [name, words] of Object.entries(SUBCOMMANDS))
    lines.push(
      `complete -c ironclaw -n '__fish_seen_subcommand_from ${name}' -a ${quote(words.join(' '))}`,
    );
  return `${lines.join('\n')}\n`;
}
