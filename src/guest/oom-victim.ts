import { writeFile } from 'node:fs/promises';

/*
 * The guest agent shares the box's memory limit with the commands it starts, and it is often
 * the biggest process there (node): when a command outgrew the limit, the kernel's OOM killer
 * took the agent, the channel closed and the caller never learnt what happened. A command the
 * agent starts is therefore made the OOM killer's first choice: oom_score_adj 1000, which any
 * process may set on itself or on a process of its own uid (only lowering it needs
 * CAP_SYS_RESOURCE, which the agent has nowhere). Its children inherit it at fork.
 */

/** The most attractive value: the OOM killer takes such a process before one at 0. */
export const FIRST_VICTIM = 1000;

/**
 * Makes `pid` (a process the agent started) the OOM killer's first choice. Best effort: a
 * process that has exited, or a kernel without the file (gVisor keeps it and has no OOM killer
 * of its own), leaves things as they were.
 */
export async function offerToOomKiller(pid: number | undefined): Promise<void> {
  if (pid === undefined) return;
  await writeFile(`/proc/${pid}/oom_score_adj`, `${FIRST_VICTIM}\n`).catch(() => undefined);
}
