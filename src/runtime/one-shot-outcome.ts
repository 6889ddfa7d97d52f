import { auditSeccompEnd } from '../audit/seccomp-audit.js';
import { exitStatusForSignal, TIMED_OUT_STATUS } from '../core/exit-status.js';
import type { OutputCap } from '../core/output-cap.js';
import type { BoxProcess } from '../host/box-process.js';
import type { RunOnceResult } from './run-once-options.js';

/**
 * The result of a box whose payload was the command (a one-shot run, a primed box): one status
 * for a timeout, OOM told apart from a plain SIGKILL by the box's cgroup, the seccomp audit of
 * its end, the output and what the cap dropped.
 */
export async function oneShotOutcome(
  box: BoxProcess,
  run: {
    exit: { code: number | null; signal: NodeJS.Signals | null };
    timedOut: boolean;
    command: string | readonly string[];
    startedUs: number;
    started: number;
    cap: OutputCap;
    stdout: Buffer[];
    stderr: Buffer[];
  },
): Promise<RunOnceResult> {
  const { exit, timedOut } = run;
  const status = exit.code ?? exitStatusForSignal(exit.signal);
  const exitCode = timedOut ? TIMED_OUT_STATUS : status;
  // The box reports a command killed by SIGKILL as 137; the cgroup says whether OOM did it.
  const oomKilled =
    !timedOut && status === exitStatusForSignal('SIGKILL') && ((await box.oomKills?.()) ?? 0) > 0;
  auditSeccompEnd({
    sandbox: box.id,
    isolation: box.isolation,
    command: run.command,
    exit: { exitCode, signal: exit.signal },
    startedUs: run.startedUs,
  });
  return {
    exitCode,
    signal: timedOut || oomKilled ? 'SIGKILL' : exit.signal,
    timedOut,
    oomKilled,
    ...(oomKilled ? { memoryLimitBytes: box.memoryLimitBytes } : {}),
    truncated: run.cap.truncated,
    droppedBytes: run.cap.dropped,
    durationMs: performance.now() - run.started,
    isolation: box.isolation,
    stdout: Buffer.concat(run.stdout),
    stderr: Buffer.concat(run.stderr),
  };
}
