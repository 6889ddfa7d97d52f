import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Where this process reports long work a caller would otherwise wait through in silence: a
 * guest image built on first use, a VM template booted for a new configuration. The CLI points
 * it at its progress display (nothing with --json); anywhere else, such as in the daemon, the
 * lines go to stderr, the process's log, and (alsoReportLongWorkTo) to the client whose request
 * caused the work: the daemon's `create` sends them to the CLI that waits for it.
 */
export type LongWorkReporter = (message: string) => void;

const toStderr: LongWorkReporter = (message) => {
  process.stderr.write(`ironclaw: ${message}\n`);
};

let reporter: LongWorkReporter = toStderr;
const requester = new AsyncLocalStorage<LongWorkReporter>();

/** Reports one step of long work, to this process's reporter and to the requester's, if any. */
export function reportLongWork(message: string): void {
  reporter(message);
  requester.getStore()?.(message);
}

/**
 * Runs `work` with its long-work steps also sent to `receiver` (one that fails is ignored: the
 * requester may have gone). Work that `work` starts and that outlives it, such as a VM template
 * another request then waits for too, keeps reporting to `receiver`.
 */
export function alsoReportLongWorkTo<T>(receiver: LongWorkReporter, work: () => T): T {
  return requester.run((message) => {
    try {
      receiver(message);
    } catch {
      // The requester went away; the process's own reporter has the line.
    }
  }, work);
}

/** Sends this process's long-work steps to `next`; undefined puts stderr back. */
export function setLongWorkReporter(next: LongWorkReporter | undefined): void {
  reporter = next ?? toStderr;
}
