import { createRequire } from 'node:module';
import { type CommandDef, dispatch } from './command.js';
import type * as More from './more.js';
import type * as ExecCommand from './exec-command.js';
import { execHandOver } from './exec-hand-over.js';
import { ALLOW_NET_OPTION } from './allow-net-option.js';
import { INTERACTIVE_OPTIONS } from './interactive-options.js';
import { EXEC_BOX_OPTIONS } from './box-options.js';
import { DRIVERS } from '../core/isolation.js';
import { closeInheritedFds } from '../host/inherited-fds.js';
import { EXIT_BROKEN_PIPE, EXIT_SANDBOX_FAILED } from './cli-error.js';

const VERSION = '0.1.0';

const limitOptions = {
  memory: {
    type: 'string',
    value: '<size>',
    description: 'memory limit: a number with k, m or g (512m, 2g; needs cgroups)',
  },
  pids: { type: 'string', value: '<n>', description: 'process limit, e.g. 256 (needs cgroups)' },
} as const;

// This file holds what a plain one-shot `ironclaw exec` runs, the hand-over to its box. The
// supervised exec (any option, any driver) is a bundle of its own, CommonJS and `require`d:
// import() of it would start node's ES-module loader and lex its exports, a few ms more. The
// other commands load from a third bundle (ES modules, split) when they run.
// Both also guard the output streams, which the hand-over never makes (node would load its
// stream and socket modules for them).
const more = (): Promise<typeof More> => {
  endQuietlyOnBrokenPipe();
  return import('./more.js');
};
const supervisedExec = (): typeof ExecCommand => {
  endQuietlyOnBrokenPipe();
  return createRequire(import.meta.url)('./exec-command.cjs') as typeof ExecCommand;
};
const commands: CommandDef[] = [
  {
    name: 'exec',
    summary: 'run a command in a fresh sandbox that is destroyed afterwards',
    args: '-- <command> [args...]',
    options: {
      driver: {
        type: 'string',
        value: '<driver>',
        description: `sandbox driver: ${DRIVERS.join(', ')} (default bwrap)`,
      },
      timeout: {
        type: 'string',
        value: '<duration>',
        description: 'kill the command after this long, e.g. 30s',
      },
      ...limitOptions,
      workspace: {
        type: 'string',
        value: '<dir>',
        description: 'copy this directory into /workspace first (changes stay in the box)',
      },
      ...ALLOW_NET_OPTION,
      ...INTERACTIVE_OPTIONS,
      ...EXEC_BOX_OPTIONS,
      json: {
        type: 'boolean',
        description: 'print one JSON object with the result instead of streaming',
      },
    },
    examples: [
      'ironclaw exec -- uname -a',
      'ironclaw exec --memory 512m --pids 64 --timeout 30s -- python3 -c "print(1)"',
      'ironclaw exec -e DEBUG=1 -e HOME -w /tmp -- env',
      'ironclaw exec -v ~/data:/data -- ls /data',
      'ironclaw exec --workspace . --allow-net pypi.org,*.pythonhosted.org -- pip download six',
      'ironclaw exec --driver qemu -- cat /proc/cpuinfo',
    ],
    run: async (options, positionals) =>
      (await execHandOver(positionals, options)) ??
      supervisedExec().execCommand(positionals, options),
  },
  {
    name: 'sandbox',
    summary:
      'long-lived sandboxes: create, exec, shell, cp, write, read, ls, rm, list (held by the daemon)',
    args: '<subcommand> ...',
    options: {},
    examples: ['ironclaw sandbox create --id work', 'ironclaw sandbox exec work -- ls'],
    run: () => Promise.resolve(0),
    subcommands: async (rest) => (await more()).sandboxCommand(rest),
  },
  {
    name: 'diff',
    summary: "what changed in a sandbox's /workspace since its --workspace was copied in",
    args: '<sandbox>',
    options: {
      json: { type: 'boolean', description: 'print the diff as JSON' },
      stat: { type: 'boolean', description: 'one line a change, without the text diffs' },
    },
    examples: ['ironclaw diff work', 'ironclaw diff work --stat', 'ironclaw diff work --json'],
    run: async (options, positionals) => (await more()).diffCommand(options, positionals),
  },
  {
    name: 'apply',
    summary: "write a sandbox's workspace changes back into its host directory, after a yes",
    args: '<sandbox>',
    options: {
      yes: { type: 'boolean', description: 'confirm without asking (needed without a terminal)' },
      json: { type: 'boolean', description: 'print what was applied as JSON' },
    },
    examples: ['ironclaw apply work', 'ironclaw apply work --yes --json'],
    run: async (options, positionals) => (await more()).applyCommand(options, positionals),
  },
  {
    name: 'daemon',
    summary: 'run the daemon that holds long-lived sandboxes and the warm pool (foreground)',
    args: '',
    options: {
      pool: {
        type: 'string',
        value: '<n>',
        description: 'ready sandboxes to keep warm (default 2, or IRONCLAW_POOL_SIZE)',
      },
      stop: { type: 'boolean', description: 'stop the running daemon' },
    },
    examples: ['ironclaw daemon --pool 4', 'ironclaw daemon --stop'],
    run: async (options) => (await more()).daemonCommand(options),
  },
  {
    name: 'mcp',
    summary:
      'serve MCP (stdio, or Streamable HTTP with --http) so AI clients run work in sandboxes',
    args: '',
    options: {
      http: {
        type: 'string',
        value: '[host:]port',
        description: 'serve Streamable HTTP at http://host:port/mcp (host 127.0.0.1 by default)',
      },
      'allowed-hosts': {
        type: 'string',
        value: '<names>',
        description: 'more hostnames Host/Origin may name, comma-separated (--http only)',
      },
      driver: { type: 'string', value: '<driver>', description: 'default sandbox driver' },
      pool: {
        type: 'string',
        value: '<n>',
        description: 'ready sandboxes to keep warm (default 2)',
      },
      'idle-timeout': {
        type: 'string',
        value: '<time>',
        description: "destroy a session's sandboxes after this long without a call (default 30m)",
      },
      dashboard: {
        type: 'boolean',
        description: "also serve a dashboard of this server's sandboxes on 127.0.0.1 (--http only)",
      },
      verbose: { type: 'boolean', description: 'log debug details too (refused requests, …)' },
    },
    examples: [
      'ironclaw mcp',
      'ironclaw mcp --http 8765 --driver gvisor',
      'ironclaw mcp --http 127.0.0.1:8765 --idle-timeout 10m',
    ],
    run: async (options) => (await more()).mcpCommand(options, VERSION),
  },
  {
    name: 'wrap',
    summary: 'run a third-party stdio MCP server in a sandbox and proxy it, under a tool policy',
    args: '[--mount HOST:GUEST[:ro]]... [--env NAME]... [--policy FILE] -- <command> [args...]',
    options: {},
    examples: [
      'ironclaw wrap -- npx -y @modelcontextprotocol/server-filesystem /data',
      'ironclaw wrap --mount ~/notes:/data:ro --env API_KEY --policy policy.json -- node server.js',
    ],
    run: () => Promise.resolve(0),
    subcommands: async (rest) => (await more()).wrapCommand(rest, VERSION),
  },
  {
    name: 'policy',
    summary:
      'show a seccomp policy (boxes, or a VMM) with its numbers computed from the compiled filter',
    args: 'show [sandbox|vmm-qemu|vmm-firecracker]',
    options: { json: { type: 'boolean', description: 'print the policy and its numbers as JSON' } },
    examples: ['ironclaw policy show', 'ironclaw policy show vmm-qemu --json'],
    run: async (options, positionals) => (await more()).policyCommand(positionals, options),
  },
  {
    name: 'agent',
    summary: "IronClaw's own agent loop: a model works on a task through sandboxed tools (MCP)",
    args: '"<task>" | --resume <session-id>',
    options: {
      provider: {
        type: 'string',
        value: '<openai|anthropic>',
        description: 'the model API (default openai: also Ollama, llama.cpp, vLLM, LM Studio)',
      },
      model: {
        type: 'string',
        value: '<name>',
        description: 'the model (or IRONCLAW_AGENT_MODEL)',
      },
      'max-steps': {
        type: 'string',
        value: '<n>',
        description: 'model turns at most (default 30)',
      },
      'max-tokens': {
        type: 'string',
        value: '<n>',
        description: 'input+output tokens at most (default 500000)',
      },
      'max-cost': {
        type: 'string',
        value: '<usd>',
        description: 'US dollars at most, from the prices in the config file (agent.prices)',
      },
      workspace: {
        type: 'string',
        value: '<dir>',
        description: 'work on a copy of DIR; at the end show the diff and ask before applying it',
      },
      'yes-for': {
        type: 'string',
        value: '<apply|egress:HOST|tool:SERVER/TOOL>',
        description:
          'pre-approve red actions, comma-separated, each recorded (transcript, audit): apply (the diff at the end), egress:HOST (connections to HOST), tool:SERVER/TOOL (a wrapped red tool); anything else is asked on the TTY, and declined without one',
      },
      timeout: {
        type: 'string',
        value: '<duration>',
        description: 'wall time at most (default 15m)',
      },
      resume: {
        type: 'string',
        value: '<session-id>',
        description:
          'continue a stopped session from its transcript (what it spent counts; raise a budget with its flag)',
      },
    },
    examples: [
      'ironclaw agent "count the lines of *.py in /workspace"',
      'ironclaw agent --provider anthropic --model claude-sonnet-4-5 --max-steps 10 "fix the failing test"',
    ],
    run: async (options, positionals) => (await more()).agentCommand(positionals, options),
  },
  {
    name: 'audit',
    summary:
      'show the audit store (what ran, what was asked and decided), or verify its hash chain',
    args: '[verify|prune]',
    options: {
      json: { type: 'boolean', description: 'one JSON object a record (or the verify report)' },
      follow: { type: 'boolean', description: 'go on printing records as they are written' },
      since: { type: 'string', value: '<10m|date>', description: 'only records since then' },
      sandbox: { type: 'string', value: '<id>', description: "only this sandbox's records" },
      'max-age': {
        type: 'string',
        value: '<30d|none>',
        description: 'prune: remove records older than this (default audit.maxAge)',
      },
      'max-size': {
        type: 'string',
        value: '<256m|none>',
        description: 'prune: keep the newest records up to this size (default audit.maxSize)',
      },
    },
    examples: [
      'ironclaw audit --since 10m',
      'ironclaw audit --sandbox work --json',
      'ironclaw audit --follow',
      'ironclaw audit verify',
    ],
    run: async (options, positionals) => (await more()).auditCommand(positionals, options),
  },
  {
    name: 'dashboard',
    summary:
      'print the address of a page (127.0.0.1) with the sandboxes, the live audit and approvals',
    args: '',
    options: { json: { type: 'boolean', description: 'print {"url": …} as JSON' } },
    examples: ['ironclaw dashboard', 'ironclaw dashboard --json'],
    run: async (options) => (await more()).dashboardCommand(options),
  },
  {
    name: 'doctor',
    summary: 'start a box with every driver and report which work, and how to fix the rest',
    args: '',
    options: {
      json: { type: 'boolean', description: 'print the report as JSON' },
      network: {
        type: 'boolean',
        description:
          'instead, boot a box with an allow-list and try each egress attack from inside it',
      },
      driver: {
        type: 'string',
        value: '<driver>',
        description: `with --network, test only this driver: ${DRIVERS.join(', ')} (default: every driver)`,
      },
    },
    examples: [
      'ironclaw doctor',
      'ironclaw doctor --json',
      'ironclaw doctor --network',
      'ironclaw doctor --network --driver gvisor',
    ],
    run: async (options) => (await more()).doctorCommand(options),
  },
  {
    name: 'image',
    summary: 'guest images of the qemu driver: build (from Debian packages), list, rm',
    args: 'build | list | rm <key>|all',
    options: { json: { type: 'boolean', description: 'print the result as JSON' } },
    examples: ['ironclaw image build', 'ironclaw image list --json', 'ironclaw image rm all'],
    run: async (options, positionals) => (await more()).imageCommand(positionals, options),
  },
  {
    name: 'completion',
    summary: 'print a shell completion script: bash, zsh or fish',
    args: 'bash|zsh|fish',
    options: {},
    examples: [
      'source <(ironclaw completion bash)   # in ~/.bashrc',
      'source <(ironclaw completion zsh)    # in ~/.zshrc',
      'ironclaw completion fish | source    # in ~/.config/fish/config.fish',
    ],
    run: async (_options, positionals) => (await more()).completionCommand(positionals, commands),
  },
];

let outputGuarded = false;

/**
 * A reader that goes away (`ironclaw exec -- seq 1 1000000 | head -1`) ends the CLI as it ends
 * coreutils: quietly, with the status of a process killed by SIGPIPE (node ignores the signal
 * and raises EPIPE instead, as an 'error' event that would otherwise print a stack trace). A
 * stream that has a listener of its own (the MCP server's stdout) is left to it.
 */
function endQuietlyOnBrokenPipe(): void {
  if (outputGuarded) return;
  outputGuarded = true;
  for (const stream of [process.stdout, process.stderr]) {
    const onError = (error: NodeJS.ErrnoException): void => {
      if (stream.listenerCount('error') > 1) return;
      if (error.code === 'EPIPE') process.exit(EXIT_BROKEN_PIPE);
      if (stream === process.stdout)
        process.stderr.write(`ironclaw: cannot write the output: ${error.message}\n`);
      process.exit(EXIT_SANDBOX_FAILED);
    };
    stream.on('error', onError);
  }
}

async function main(args: string[]): Promise<number> {
  // Descriptors our parent leaked to us would reach every box: close them before anything else.
  closeInheritedFds();
  if (args[0] === '--version' || args[0] === '-V') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  return dispatch(
    commands,
    args,
    'ironclaw',
    `IronClaw ${VERSION}: run AI agents' actions in just-in-time sandboxes.`,
  );
}

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
