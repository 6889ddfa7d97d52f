import { setTimeout as delay } from 'node:timers/promises';
import { IronClawError } from '../core/errors.js';
import { describeExit } from '../core/exit-status.js';
import { formatBytes } from '../core/units.js';
import type { BoxProcess } from '../host/box-process.js';

/** How long a failure waits for the box's exit, to say why it failed. */
const EXIT_GRACE_MS = 1000;

/**
 * The box's exit, if it comes within a moment: a box that died usually breaks its channel just
 * before its holder's exit lands, and the exit says more than the broken channel.
 */
export function exitSoon(
  box: BoxProcess,
): Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined> {
  return Promise.race([box.exited, delay(EXIT_GRACE_MS, undefined)]);
}

/**
 * A call that failed because the channel closed, said in words when the box is gone: a command
 * in it killed the guest agent, or the OOM killer did. The code stays CHANNEL_CLOSED (callers
 * branch on it). Other errors are rethrown as they are.
 */
export async function explainClosed(error: unknown, box: BoxProcess, id: string): Promise<never> {
  if (!(error instanceof IronClawError) || error.code !== 'CHANNEL_CLOSED') throw error;
  const exit = await exitSoon(box);
  if (exit === undefined) throw error;
  // A gVisor box's memory cgroup holds the whole sandbox: its OOM killer ends the box, not one
  // command. Elsewhere a kill it counted ended the agent (commands are offered first).
  const oomKills = await box.oomKills?.().catch(() => 0);
  if (oomKills !== undefined && oomKills > 0) {
    const what =
      box.isolation.driver === 'gvisor' ? 'the gVisor box' : `the ${box.isolation.driver} box`;
    const limit =
      box.memoryLimitBytes === undefined ? '' : ` (limit ${formatBytes(box.memoryLimitBytes)})`;
    throw new IronClawError(
      'CHANNEL_CLOSED',
      `sandbox ${id} has ended: ${what} was killed: out of memory${limit}, by the OOM killer of its memory cgroup; destroy it and create another with a larger memory limit`,
      { cause: error },
    );
  }
  throw new IronClawError(
    'CHANNEL_CLOSED',
    `sandbox ${id} has ended (${describeExit(exit)}): its guest agent was killed, by a command in the box or by the kernel (at the box's memory limit, for one); destroy it and create another`,
    { cause: error },
  );
}
