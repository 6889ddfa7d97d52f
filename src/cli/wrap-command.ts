import { allowNetRules } from './allow-net-flag.js';
import { parseArgs } from 'node:util';
import { parseMount } from './mount-flag.js';
import { loadConfig } from '../host/config-file.js';
import { ensureStateDir, persistentStateDir } from '../host/state-dir.js';
import { stderrLogger } from '../mcp/logger.js';
import { DEFAULT_POLICY, loadToolPolicy } from '../mcp/wrap-policy.js';
import { pinFilePath } from '../mcp/wrap-tool-pins.js';
import { EXIT_USAGE, reportError, usageError } from './cli-error.js';
import { openApprovals } from './open-approvals.js';

const USAGE = 'usage: ironclaw wrap [options] -- <command> [args...]';
const HELP = `${USAGE}

Runs a third-party stdio MCP server inside a sandbox (bwrap: no network, read-only root, no host
files but the mounts given) and proxies it on stdin/stdout. Tool calls are checked against the
policy and logged to stderr; a tool list that changes after it was first seen is held back.

  --mount HOST:GUEST[:ro]  bind a host path into the box (read-write unless :ro); repeatable
  --env NAME               pass this environment variable's value into the box; repeatable
  --allow-net RULES        let the server reach these hosts through the egress proxy, comma-separated
                           (example.com, *.pypi.org, github.com:22); no network otherwise
  --policy FILE            per-tool policy: {"default": "allow"|"deny"|"ask", "unannotated": "allow"|"ask",
                           "tools": {"<name>": "allow"|"deny"|"ask"}}; "ask" waits for the user's yes
                           (asked by MCP elicitation). Without a policy, tools the server marks
                           destructiveHint ask; the rest are allowed
  --accept-tools           start the server, accept its current tool list, print what changed, exit
  --verbose                log debug details too
`;

const OPTIONS = {
  mount: { type: 'string', multiple: true },
  env: { type: 'string', multiple: true },
  policy: { type: 'string' },
  'accept-tools': { type: 'boolean' },
  'allow-net': { type: 'string' },
  verbose: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/**
 * `ironclaw wrap [options] -- <command…>`. Parses its own arguments (mount and env repeat, and
 * everything after `--` belongs to the wrapped command, flags included). stdout carries the
 * protocol only; every message of ours goes to stderr.
 */
export async function wrapCommand(args: string[], version: string): Promise<number> {
  const split = args.indexOf('--');
  const ours = split === -1 ? args : args.slice(0, split);
  const argv = split === -1 ? [] : args.slice(split + 1);
  const values = parseOptions(ours);
  if (!values) return EXIT_USAGE;
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.once('SIGINT', stop).once('SIGTERM', stop);
  try {
    if (argv.length === 0) throw usageError(`give the server's command after --; ${USAGE}`);
    const mounts = (values.mount ?? []).map((spec) =>
      parseMount(spec, { flag: '--mount', readOnlyByDefault: false }),
    );
    const env = Object.fromEntries((values.env ?? []).map((name) => [name, hostEnv(name)]));
    const policy =
      values.policy === undefined ? DEFAULT_POLICY : await loadToolPolicy(values.policy);
    const config = await loadConfig({});
    // Pins must survive a reboot: a fresh start must not trust a changed tool list as new.
    const stateDir = await ensureStateDir(persistentStateDir());
    const log = stderrLogger({ level: values.verbose ? 'debug' : 'info' });
    const { acceptWrapTools, serveWrap } = await import('../mcp/wrap-serve.js');
    const options = {
      argv,
      mounts,
      env,
      allowNet: allowNetRules(values['allow-net']) ?? [],
      rootBoxUid: config.rootBoxUid,
      boxUids: config.boxUids,
      policy,
      ...(values['accept-tools'] ? {} : approvalsFor()),
      pinPath: pinFilePath(stateDir, argv),
      acceptCommand: acceptCommandLine(ours, argv),
      log,
      version,
      signal: controller.signal,
    };
    if (values['accept-tools']) {
      process.stderr.write(`ironclaw wrap: ${await acceptWrapTools(options)}\n`);
      return 0;
    }
    return await serveWrap(options);
  } catch (error) {
    return reportError(error);
  } finally {
    process.off('SIGINT', stop).off('SIGTERM', stop);
  }
}

/** The wrap's approval broker, recording in the audit store; red tools are refused without it. */
function approvalsFor() {
  const { approvals, unavailable } = openApprovals();
  return { approvals, approvalsUnavailable: unavailable };
}

function parseOptions(args: string[]) {
  try {
    return parseArgs({ args, options: OPTIONS, strict: true, allowPositionals: false }).values;
  } catch (error) {
    process.stderr.write(`ironclaw: ${(error as Error).message.split('\n')[0]}\n${USAGE}\n`);
    return undefined;
  }
}

function hostEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined)
    throw usageError(
      `--env ${name}: ${name} is not set in this environment; set it (for example in the client's "env" block) or drop the flag`,
    );
  return value;
}

function acceptCommandLine(ours: string[], argv: string[]): string {
  const kept = ours.filter((arg) => arg !== '--verbose');
  return ['ironclaw', 'wrap', '--accept-tools', ...kept, '--', ...argv].map(quote).join(' ');
}

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`;
}
