import { IronClawError } from '../../core/errors.js';

export interface StartFailureFacts {
  /** The start-up deadline passed (whatever error that surfaced as: a TimeoutError, an AbortError). */
  timedOut: boolean;
  timeoutMs: number;
  /** What runsc said: its stderr and, once it has exited, the notable lines of its log. */
  runscSays: string;
  /** The box's memory limit: a box killed under one was most likely killed by it. */
  memoryBytes: number | undefined;
}

/**
 * The error a failed gVisor start rejects with: it always carries its cause, in its message (a
 * CLI prints the message, not the cause chain), and what runsc said, when the failure's own
 * words do not already quote it. Before, a failure that was not one of ours (a file system
 * error, an aborted wait) read "the gVisor box failed to start" and nothing else.
 */
export function startFailure(error: unknown, facts: StartFailureFacts): IronClawError {
  const runsc = facts.runscSays.trim();
  const withRunsc = (message: string): string =>
    runsc === '' || message.includes(runsc) ? message : `${message}\nrunsc: ${runsc}`;
  if (error instanceof IronClawError) {
    const message = withMemoryHint(withRunsc(error.message), facts.memoryBytes);
    return message === error.message
      ? error
      : new IronClawError(error.code, message, { cause: error });
  }
  const what = facts.timedOut
    ? `did not start within ${facts.timeoutMs} ms`
    : `failed to start: ${describe(error)}`;
  return new IronClawError(
    'SANDBOX_START_FAILED',
    withRunsc(`the gVisor box ${what}${runsc === '' ? ' (runsc said nothing)' : ''}`),
    { cause: error },
  );
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as NodeJS.ErrnoException).code;
  return code !== undefined && !error.message.includes(code)
    ? `${code}: ${error.message}`
    : error.message;
}

/**
 * A box killed during start-up under a memory limit was most likely killed by that limit: it
 * holds runsc, the gofer and the sentry as well as the box's processes.
 */
function withMemoryHint(message: string, memoryBytes: number | undefined): string {
  if (memoryBytes === undefined || !message.includes('SIGKILL')) return message;
  return `${message}\n(the memory limit of ${memoryBytes} bytes also holds gVisor's runsc, gofer and sentry; a limit this small can kill them during start-up)`;
}
