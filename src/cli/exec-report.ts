import { toIronClawError } from '../core/errors.js';
import { exitStatusForSignal, TIMED_OUT_STATUS } from '../core/exit-status.js';
import { reportError } from './cli-error.js';

/** How a command ended, as `exec` and `sandbox exec` both learn it. */
export interface ExecOutcome {
  /** The command's own status; null when a signal ended it. */
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  oomKilled?: boolean | undefined;
  memoryLimitBytes?: number | undefined;
  truncated: boolean;
  droppedBytes: number;
  durationMs: number;
}

/**
 * The one JSON result of `ironclaw exec --json` and `ironclaw sandbox exec --json`.
 * `exitCode` is always the status the CLI exits with: the command's own, 128+N when signal N
 * ended it, 124 when its timeout did (`timedOut`); `oomKilled` when the memory limit's OOM
 * killer did; `truncated` and `droppedBytes` when output past the cap was dropped.
 */
export function execReport(
  outcome: ExecOutcome,
  output: { stdout: Buffer; stderr: Buffer },
  extra: { isolation?: unknown } = {},
): Record<string, unknown> {
  return {
    exitCode: exitStatusOf(outcome),
    signal: outcome.signal,
    timedOut: outcome.timedOut,
    oomKilled: outcome.oomKilled === true,
    ...(outcome.oomKilled && outcome.memoryLimitBytes !== undefined
      ? { memoryLimitBytes: outcome.memoryLimitBytes }
      : {}),
    truncated: outcome.truncated,
    droppedBytes: outcome.droppedBytes,
    durationMs: Math.round(outcome.durationMs),
    stdout: output.stdout.toString('utf8'),
    stderr: output.stderr.toString('utf8'),
    ...(extra.isolation === undefined ? {} : { isolation: extra.isolation }),
  };
}

/** The CLI's exit status for an outcome (see execReport). */
export function exitStatusOf(outcome: ExecOutcome): number {
  if (outcome.timedOut) return TIMED_OUT_STATUS;
  return outcome.exitCode ?? exitStatusForSignal(outcome.signal);
}

/** Says on stderr what the status alone does not: a timeout, an OOM kill, dropped output. */
export function reportOutcome(outcome: ExecOutcome, timeout?: string): void {
  if (outcome.timedOut) {
    process.stderr.write(
      `ironclaw: TIMEOUT: the command ran past its timeout${timeout === undefined ? '' : ` (--timeout ${timeout})`} and was killed\n`,
    );
  }
  if (outcome.oomKilled) {
    const limit =
      outcome.memoryLimitBytes === undefined
        ? ''
        : ` (limit ${formatBytes(outcome.memoryLimitBytes)})`;
    process.stderr.write(`ironclaw: killed: out of memory${limit}\n`);
  }
  if (outcome.truncated) {
    process.stderr.write(
      `ironclaw: output truncated: ${outcome.droppedBytes} bytes past the cap were dropped\n`,
    );
  }
}

/**
 * A failure of a `--json` run: one JSON object, `{"error": {"code", "message"}}`, on stdout (so
 * a script reading stdout always gets JSON), and the usual line on stderr.
 */
export function reportJsonError(error: unknown): number {
  const failure = toIronClawError(error);
  process.stdout.write(`${JSON.stringify({ error: failure.toJSON() })}\n`);
  return reportError(failure);
}

function formatBytes(bytes: number): string {
  for (const [unit, size] of [
    ['GiB', 1024 ** 3],
    ['MiB', 1024 ** 2],
    ['KiB', 1024],
  ] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size} ${unit}`;
  }
  return `${bytes} bytes`;
}
