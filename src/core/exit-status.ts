import { constants } from 'node:os';

/** The exit status a shell reports for a process killed by `signal`: 128 + its number. */
export function exitStatusForSignal(signal: string | null): number {
  const number = signal
    ? (constants.signals as Record<string, number | undefined>)[signal]
    : undefined;
  return 128 + (number ?? 0);
}

/**
 * The exit status of a command that its timeout killed, the same in every result (library,
 * `--json`, MCP) and as the CLI's own status: 124, as timeout(1) reports it. `timedOut` says
 * so, and `signal` how it was stopped (SIGKILL).
 */
export const TIMED_OUT_STATUS = 124;
