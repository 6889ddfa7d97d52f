import { kernelSeccompRecords } from '../host/kernel-seccomp-log.js';
import { audit } from './audit-trail.js';

/** Exit statuses that mean a seccomp filter killed the command (or, for 159, a child of it). */
function seccompEnding(exit: {
  exitCode: number | null;
  signal: string | null;
}): string | undefined {
  if (exit.signal === 'SIGSYS') return 'killed by SIGSYS';
  if (exit.exitCode === 128 + 31)
    return 'exit status 159 (a shell reporting a child killed by SIGSYS)';
  return undefined;
}

/** The kernel's log clock and node's monotonic clock may differ by this much. */
const KMSG_SLACK_US = 1_000_000;

/**
 * Records a command the syscall filter killed, if this one was, with what the host kernel
 * logged of it since `startedUs` (a bwrap box's processes run on the host kernel; other drivers'
 * boxes run on a kernel of their own, which keeps its own log).
 */
export function auditSeccompEnd(run: {
  sandbox: string;
  isolation: { driver: string; hostUid: number };
  command: readonly string[] | string;
  exit: { exitCode: number | null; signal: string | null };
  startedUs: number;
}): void {
  const ended = seccompEnding(run.exit);
  if (ended === undefined) return;
  const { driver, hostUid } = run.isolation;
  audit({
    kind: 'seccomp-violation',
    sandbox: run.sandbox,
    data: {
      driver,
      argv: typeof run.command === 'string' ? run.command.slice(0, 4096) : run.command.slice(0, 64),
      ended,
      kernel:
        driver === 'bwrap'
          ? kernelSeccompRecords(run.startedUs - KMSG_SLACK_US, hostUid)
          : `the ${driver} driver's processes run on a kernel of the box's own, not the host's`,
    },
  });
}
