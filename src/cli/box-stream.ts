import type { Readable } from 'node:stream';
import { IronClawError, toIronClawError } from '../core/errors.js';
import { DAEMON_METHODS } from '../protocol/daemon-api.js';
import { OutputEventSchema } from '../protocol/guest-api.js';
import type { RpcClient } from '../protocol/rpc-client.js';

/** The most of a command's stderr kept to quote when it fails. */
const STDERR_TAIL_BYTES = 16 * 1024;

/**
 * Runs one command in a sandbox through the daemon for a transfer (`sandbox cp`): `stdin`
 * streamed in at the pace the daemon takes it, stdout handed to `onStdout` (whose promise holds
 * the daemon back), stderr kept for the error. Fails with FILE_ERROR, quoting the command's own
 * words, unless it exits 0.
 */
export async function streamThroughBox(
  rpc: RpcClient,
  id: string,
  argv: string[],
  options: {
    stdin?: Readable;
    onStdout?: (chunk: Buffer) => Promise<void> | undefined;
    what: string;
  },
): Promise<void> {
  let stderr = Buffer.alloc(0);
  // A consumer that fails (a refused archive) ends the command: the rest is not wanted.
  let failure: unknown;
  let consumed: Promise<void> = Promise.resolve();
  const cancel = new AbortController();
  const call = rpc.call(
    'exec',
    {
      id,
      argv,
      stdinOpen: options.stdin !== undefined,
      maxOutputBytes: Number.MAX_SAFE_INTEGER,
    },
    DAEMON_METHODS.exec.result,
    {
      signal: cancel.signal,
      onEvent: (event, data) => {
        const parsed = OutputEventSchema.safeParse(data);
        if (!parsed.success) return;
        const chunk = Buffer.from(parsed.data.data, 'base64');
        if (event === 'stderr') {
          stderr = Buffer.concat([stderr, chunk]).subarray(-STDERR_TAIL_BYTES);
          return;
        }
        if (failure !== undefined || !options.onStdout) return;
        const consume = options.onStdout;
        // In order, one at a time: events already decoded arrive before a pause takes hold.
        consumed = consumed
          .then(() => consume(chunk))
          .catch((error: unknown) => {
            failure ??= error;
            cancel.abort();
          });
        rpc.pauseReading(consumed);
      },
    },
  );
  const stdin = options.stdin;
  if (stdin) {
    stdin.on('data', (chunk: Buffer) => {
      if (call.input(chunk)) return;
      stdin.pause();
      void rpc.drained().then(() => stdin.resume());
    });
    stdin.once('end', () => call.input(undefined, true));
  }
  const result = await call.result.catch(async (error: unknown) => {
    await consumed;
    throw toIronClawError(failure ?? error);
  });
  await consumed;
  if (failure !== undefined) throw toIronClawError(failure);
  if (result.exitCode !== 0)
    throw new IronClawError(
      'FILE_ERROR',
      `${options.what}: ${argv[0]} in the box ${result.signal ?? `exited ${result.exitCode}`}: ${stderr.toString().trim() || 'it printed nothing'}`,
    );
}
