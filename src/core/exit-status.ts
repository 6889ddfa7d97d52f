import { constants } from 'node:os';

/** The exit status a shell reports for a process killed by `signal`: 128 + its number. */
export function exitStatusForSignal(signal: string | null): number {
  const number = signal
    ? (constants.signals as Record<string, number | undefined>)[signal]
    : undefined;
  return 128 + (number ?? 0);
}
