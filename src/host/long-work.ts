/**
 * Where this process reports long work a caller would otherwise wait through in silence: a
 * guest image built on first use, a VM template booted for a new configuration. The CLI points
 * it at its progress display (nothing with --json); anywhere else, such as in the daemon, the
 * lines go to stderr, the process's log.
 */
export type LongWorkReporter = (message: string) => void;

const toStderr: LongWorkReporter = (message) => {
  process.stderr.write(`ironclaw: ${message}\n`);
};

let reporter: LongWorkReporter = toStderr;

/** Reports one step of long work. */
export function reportLongWork(message: string): void {
  reporter(message);
}

/** Sends this process's long-work steps to `next`; undefined puts stderr back. */
export function setLongWorkReporter(next: LongWorkReporter | undefined): void {
  reporter = next ?? toStderr;
}
