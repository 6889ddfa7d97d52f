import { spawn } from 'node:child_process';
import { open, readFile } from 'node:fs/promises';

/** A process started to outlive its parent (the daemon), and how it ended if it has. */
export interface BackgroundProcess {
  /** Its signal or exit code once it has exited; undefined while it runs. */
  exited(): string | undefined;
  /**
   * What this process wrote to the log, not what earlier ones did: the log is appended to
   * across starts, and an old failure must not pass for the current one.
   */
  logged(): Promise<string>;
}

/**
 * Starts `node script args…` detached, in a session of its own, with stdin and stdout closed and
 * stderr appended to `logPath` (0600), so its own crash output lands next to what it logs.
 */
export async function startInBackground(
  script: string,
  args: readonly string[],
  logPath: string,
): Promise<BackgroundProcess> {
  const logFile = await open(logPath, 'a', 0o600);
  let child;
  let start = 0;
  try {
    start = (await logFile.stat()).size;
    child = spawn(process.execPath, [script, ...args], {
      detached: true,
      stdio: ['ignore', 'ignore', logFile.fd],
      env: process.env,
    });
  } finally {
    await logFile.close();
  }
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    exited = signal ?? `exit code ${code}`;
  });
  child.once('error', (error) => {
    exited = error.message;
  });
  child.unref();
  return {
    exited: () => exited,
    logged: async () => {
      const log = await readFile(logPath).catch(() => Buffer.alloc(0));
      // Shorter than at the start: the log was rotated, and all of the new file is ours.
      return (log.length < start ? log : log.subarray(start)).toString('utf8');
    },
  };
}
