import { constants } from 'node:os';

/** The exit status a shell reports for a process killed by `signal`: 128 + its number. */
export function exitStatusForSignal(signal: string | null): number {
  const number = signal
    ? (constants.signals as Record<string, number | undefined>)[signal]
    : undefined;
  return 128 + (number ?? 0);
}

/**
 * How the process that held a box ended, in words: "killed by SIGKILL", "exit code 1". A box's
 * holder (bwrap, runsc) reports its first process killed by signal N as exit code 128+N.
 */
export function describeExit(exit: { code: number | null; signal: string | null }): string {
  if (exit.signal) return `killed by ${exit.signal}`;
  if (exit.code !== null && exit.code > 128) {
    const name = Object.entries(constants.signals).find(([, n]) => n === exit.code! - 128)?.[0];
    if (name) return `exit code ${exit.code}: its first process was killed by ${name}`;
  }
  return `exit code ${exit.code}`;
}

/**
 * The exit status of a command that its timeout killed, the same in every result (library,
 * `--json`, MCP) and as the CLI's own status: 124, as timeout(1) reports it. `timedOut` says
 * so, and `signal` how it was stopped (SIGKILL).
 */
export const TIMED_OUT_STATUS = 124;
