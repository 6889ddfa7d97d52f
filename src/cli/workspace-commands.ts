import { createInterface } from 'node:readline/promises';
import { IronClawError, toIronClawError } from '../core/errors.js';
import { renderDiff } from '../core/workspace-diff.js';
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
 * `ironclaw apply <sandbox>`: shows the diff's summary and asks the daemon's approval cliff for
 * a yes to exactly that diff. The person answers on this terminal (y/N) or on the dashboard,
 * whichever comes first; `--yes` answers for them (and is recorded as such). Without a terminal
 * and without an open dashboard nobody can be asked: nothing is written.
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
    const terminal = process.stdin.isTTY === true && process.stderr.isTTY;
    const ticket = await rpc.request(
      'apply_request',
      {
        id,
        digest: diff.digest,
        agent: `ironclaw apply (pid ${process.pid})`,
        channel: options.yes === true || terminal,
      },
      DAEMON_METHODS.apply_request.result,
    );
    if (ticket.denied !== undefined || ticket.approval === undefined)
      throw new IronClawError(
        'NOT_CONFIRMED',
        `${ticket.denied ?? 'not approved'}. On a terminal apply asks y/N; elsewhere pass --yes to confirm the changes listed above, or answer on the dashboard (ironclaw dashboard)`,
      );
    const approval = ticket.approval;
    const applying = rpc.request(
      'workspace_apply',
      { id, digest: diff.digest, approval },
      DAEMON_METHODS.workspace_apply.result,
    );
    const answer = async (yes: boolean, by: string): Promise<void> => {
      if (ticket.token === undefined) return;
      const outcome = await rpc.request(
        'approval_answer',
        { approval, token: ticket.token, decision: yes ? 'approve' : 'deny', scope: 'once', by },
        DAEMON_METHODS.approval_answer.result,
      );
      if (!outcome.ok && outcome.code !== 'APPROVAL_REPLAYED')
        process.stderr.write(`ironclaw: ${outcome.code ?? 'REFUSED'}: ${outcome.message ?? ''}\n`);
    };
    if (options.yes === true) await answer(true, '--yes');
    else if (terminal && ticket.token !== undefined) {
      const asking = new AbortController();
      void applying.catch(() => undefined).finally(() => asking.abort());
      const yes = await ask(`Apply ${count} change(s) to ${diff.dir}? [y/N] `, asking.signal);
      if (yes !== undefined) await answer(yes, 'tty');
      if (yes === false) {
        await applying.catch(() => undefined);
        process.stderr.write('not applied; nothing was written\n');
        return EXIT_NOT_APPLIED;
      }
    } else if (ticket.expiresAt !== undefined)
      process.stderr.write(
        `waiting for an answer on the dashboard (ironclaw dashboard) until ${ticket.expiresAt}\n`,
      );
    const report = await applying;
    if (options.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else process.stderr.write(`applied ${report.applied.length} change(s) to ${diff.dir}\n`);
    for (const kept of report.kept) process.stderr.write(`kept ${kept.path}: ${kept.reason}\n`);
    return 0;
  });
}

/** y/N on the terminal; undefined when the question was withdrawn (answered elsewhere). */
async function ask(question: string, signal: AbortSignal): Promise<boolean | undefined> {
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await prompt.question(question, { signal })).trim());
  } catch (error) {
    if (signal.aborted) {
      process.stderr.write('\n(answered elsewhere)\n');
      return undefined;
    }
    throw error;
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
