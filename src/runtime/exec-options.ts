import type { ExecResult, Tty } from '../protocol/guest-api.js';
import type { WindowSize } from '../protocol/window-size.js';

export interface ExecOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Bytes for stdin, or a stream of them (kept open until it ends). */
  stdin?: string | Uint8Array | AsyncIterable<Uint8Array>;
  /** Wall-clock limit; on expiry the command's whole process group is killed. */
  timeoutMs?: number;
  /** Cap on stdout+stderr bytes; the rest is dropped behind an explicit marker. */
  maxOutputBytes?: number;
  signal?: AbortSignal;
  /**
   * Receives output as it comes. A callback that returns a promise holds the box's output back
   * until it settles (flow control for a slow consumer, such as a pipe); a plain callback does not.
   */
  onStdout?: (chunk: Buffer) => unknown;
  onStderr?: (chunk: Buffer) => unknown;
  /**
   * Keep the output for the result (the default). A caller that streams it through onStdout and
   * onStderr, with no cap, passes false: the result's stdout and stderr are then empty, and a
   * long-lived command's output is not held in memory for nothing.
   */
  collect?: boolean;
  /**
   * Run the command in a pseudo-terminal made in the box, of this size, with this TERM: its
   * output all comes to onStdout. `resizes` follows the caller's window while it runs. Needs the
   * driver's `pty` capability (POLICY_UNENFORCEABLE otherwise).
   */
  tty?: Tty & { resizes?: AsyncIterable<WindowSize> };
}

export interface ExecOutput extends ExecResult {
  stdout: Buffer;
  stderr: Buffer;
}

/**
 * The exec request's wire params. A stdin stream is not sent here but pumped afterwards, and the
 * tty's resizes stay on the host, so both are handed back to the caller.
 */
export function execParams(
  command: readonly string[] | string,
  options: ExecOptions,
): {
  params: Record<string, unknown>;
  streaming: boolean;
  resizes: AsyncIterable<WindowSize> | undefined;
} {
  const { resizes, ...tty } = options.tty ?? {};
  const streaming = typeof options.stdin === 'object' && Symbol.asyncIterator in options.stdin;
  const stdinBytes =
    options.stdin === undefined || streaming
      ? undefined
      : Buffer.from(options.stdin as string | Uint8Array);
  const params = {
    ...(typeof command === 'string' ? { shell: command } : { argv: command }),
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(stdinBytes === undefined ? {} : { stdin: stdinBytes.toString('base64') }),
    ...(streaming ? { stdinOpen: true } : {}),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    ...(options.maxOutputBytes === undefined ? {} : { maxOutputBytes: options.maxOutputBytes }),
    ...(options.tty ? { tty } : {}),
  };
  return { params, streaming, resizes };
}

interface Drainable {
  drained(): Promise<void>;
}

/** Waits for the channel to drain whenever it is full, so a fast stdin cannot flood memory. */
export async function pumpStdin(
  stdin: AsyncIterable<Uint8Array>,
  call: { input(data: Uint8Array | undefined, eof?: boolean): boolean },
  client: Drainable,
): Promise<void> {
  for await (const chunk of stdin) {
    if (!call.input(chunk)) await client.drained();
  }
  call.input(undefined, true);
}

/** Sizes go until the command ends; a size that cannot be sent is dropped with the channel. */
export async function pumpResizes(
  sizes: AsyncIterable<WindowSize>,
  call: { resize(size: WindowSize): boolean },
  ended: Promise<unknown>,
  client: Drainable,
): Promise<void> {
  let over = false;
  void ended.then(
    () => (over = true),
    () => (over = true),
  );
  for await (const size of sizes) {
    if (over) return;
    if (!call.resize(size)) await client.drained();
  }
}
