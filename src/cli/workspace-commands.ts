import { createInterface } from 'node:readline/promises';
import { IronClawError, toIronClawError } from '../core/errors.js';
import { changeLine, type WorkspaceDiff } from '../core/workspace-diff.js';
import { DAEMON_METHODS } from '../protocol/daemon-api.js';
import type { RpcClient } from '../protocol/rpc-client.js';
import { reportError, usageError } from './cli-error.js';
import { connectDaemon } from './daemon-client.js';

type Values = Record<string, string | boolean | string[] | undefined>;

/** Exit status of an apply that was declined or refused: nothing was written. */
const EXIT_NOT_APPLIED = 1;
const REFUSALS = new Set([
  'NOT_CONFIRMED',
  'WORKSPACE_CONFLICT',
  'WORKSPACE_UNSAFE',
  'WORKSPACE_CHANGED',
]);

/** `ironclaw diff <sandbox>`: what changed in its /workspace against what was copied in. */
export async function diffCommand(options: Values, positionals: string[]): Promise<number> {
  return withDaemon(positionals, 'ironclaw diff <sandbox>', async (rpc, id) => {
    const diff = await rpc.request('workspace_diff', { id }, DAEMON_METHODS.workspace_diff.result);
    if (options.json) process.stdout.write(`${JSON.stringify(diff)}\n`);
    else process.stdout.write(renderDiff(diff, { patches: !options.stat }));
    return 0;
  });
}

/**
 * `ironclaw apply <sandbox>`: shows the diff's summary and writes it into the host directory
 * once the person at the terminal says yes (or `--yes` says it for them). The approval is
 * bound to the diff shown: the daemon refuses it if the box's diff is no longer that one.
 */
export async function applyCommand(options: Values, positionals: string[]): Promise<number> {
  return withDaemon(positionals, 'ironclaw apply <sandbox> [--yes]', async (rpc, id) => {
    const diff = await rpc.request('workspace_diff', { id }, DAEMON_METHODS.workspace_diff.result);
    const count = diff.changes.length;
    if (count === 0) {
      process.stderr.write(`sandbox ${id}: nothing to apply; ${diff.dir} already matches\n`);
      return 0;
    }
    process.stderr.write(renderDiff(diff, { patches: false }));
    const refused = diff.changes.filter((change) => change.refused !== undefined);
    if (refused.length > 0)
      throw new IronClawError(
        'WORKSPACE_UNSAFE',
        `${refused.length} change(s) would leave ${diff.dir} (marked REFUSED above); nothing was written: remove them in the box and run apply again`,
      );
    const confirmed =
      options.yes === true || (await ask(`Apply ${count} change(s) to ${diff.dir}? [y/N] `));
    if (!confirmed) {
      process.stderr.write('not applied; nothing was written\n');
      return EXIT_NOT_APPLIED;
    }
    const report = await rpc.request(
      'workspace_apply',
      { id, digest: diff.digest, confirmed: true },
      DAEMON_METHODS.workspace_apply.result,
    );
    if (options.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else process.stderr.write(`applied ${report.applied.length} change(s) to ${diff.dir}\n`);
    for (const kept of report.kept) process.stderr.write(`kept ${kept.path}: ${kept.reason}\n`);
    return 0;
  });
}

/** y/N on the terminal; without one, no answer can be had: NOT_CONFIRMED, saying what to do. */
async function ask(question: string): Promise<boolean> {
  if (!process.stdin.isTTY || !process.stderr.isTTY)
    throw new IronClawError(
      'NOT_CONFIRMED',
      'apply asks for a yes on a terminal, and there is none; pass --yes to confirm the changes listed above; nothing was written',
    );
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await prompt.question(question)).trim());
  } finally {
    prompt.close();
  }
}

async function withDaemon(
  positionals: string[],
  usage: string,
  run: (rpc: RpcClient, id: string) => Promise<number>,
): Promise<number> {
  let rpc: RpcClient | undefined;
  try {
    const [id, ...rest] = positionals;
    if (id === undefined || rest.length > 0) throw usageError(`usage: ${usage}`);
    rpc = await connectDaemon({ autoStart: false });
    return await run(rpc, id);
  } catch (error) {
    const failure = toIronClawError(error);
    if (!REFUSALS.has(failure.code)) return reportError(failure);
    process.stderr.write(`ironclaw: ${failure.code}: ${failure.message}\n`);
    return EXIT_NOT_APPLIED;
  } finally {
    rpc?.close();
  }
}

/** The diff for a terminal: one line a change, then the text diffs, then what was left out. */
export function renderDiff(diff: WorkspaceDiff, options: { patches: boolean }): string {
  const out: string[] = [];
  const { summary } = diff;
  out.push(
    `sandbox ${diff.sandbox} → ${diff.dir}: ${summary.added} added, ${summary.modified} modified, ${summary.deleted} deleted, ${summary.mode} mode, ${summary.type} type changed`,
  );
  for (const change of diff.changes) out.push(changeLine(change));
  for (const ignored of diff.ignored)
    out.push(`   ${ignored.path} (ignored: excluded by ${ignored.pattern}; never applied)`);
  for (const skipped of diff.skipped) out.push(`   ${skipped.path} (skipped: ${skipped.reason})`);
  if (options.patches)
    for (const change of diff.changes) {
      if (change.patch) out.push('', change.patch.trimEnd());
      if (change.note) out.push(`# ${change.path}: ${change.note}`);
    }
  return `${out.join('\n')}\n`;
}
