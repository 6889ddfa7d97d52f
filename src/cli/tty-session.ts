import type { WriteStream } from 'node:tty';
import type { Tty } from '../protocol/guest-api.js';
import type { WindowSize } from '../protocol/window-size.js';
import { AsyncQueue } from '../runtime/async-queue.js';
import { usageError } from './cli-error.js';

/** The size a terminal is given when neither stdout nor stderr is one to measure. */
const FALLBACK_SIZE: WindowSize = { rows: 24, cols: 80 };
/** Signals that end the CLI: the terminal goes back to how it was before they do. */
const ENDING_SIGNALS = ['SIGTERM', 'SIGHUP'] as const;

/**
 * This process's terminal lent to a command in the box's pseudo-terminal (`-t`): raw mode, so
 * every key (Ctrl-C, Ctrl-Z, Ctrl-D included) goes to the box as bytes and the box's terminal
 * does the echo and the signals; the window's size follows the box's. `close()` puts the
 * terminal back, and so does the process ending any other way (an exception, SIGTERM, SIGHUP).
 */
export class TtySession implements Disposable {
  /** What the exec's `tty` is: the first size and TERM. */
  readonly tty: Tty;
  /** The window's new sizes until close(). */
  readonly resizes = new AsyncQueue<WindowSize>({ latestOnly: true });
  readonly #window: WriteStream | undefined;
  readonly #onResize = (): void => this.resizes.push(this.#size());
  readonly #onSignal = (): void => {
    this.close();
    this.#stop();
  };
  readonly #stop: () => void;
  readonly #onExit = (): void => this.close();
  #closed = false;

  /**
   * `stop` cancels the command: SIGTERM and SIGHUP call it, once the terminal is back, and the
   * CLI then ends through its usual path (which destroys what it made). Fails with a usage error
   * when stdin is not a terminal: there would be nothing to lend.
   */
  constructor(stop: () => void) {
    this.#stop = stop;
    if (!process.stdin.isTTY)
      throw usageError(
        '-t needs a terminal, and stdin is not one; leave out -t (with -i, stdin is still passed on)',
      );
    this.#window = [process.stdout, process.stderr].find((stream) => stream.isTTY);
    const term = process.env.TERM;
    this.tty = { ...this.#size(), ...(term ? { term } : {}) };
    this.#window?.on('resize', this.#onResize);
    for (const signal of ENDING_SIGNALS) process.on(signal, this.#onSignal);
    process.on('exit', this.#onExit);
    process.stdin.setRawMode(true);
  }

  /** Puts the terminal back as it was and stops following the window. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#window?.off('resize', this.#onResize);
    for (const signal of ENDING_SIGNALS) process.off(signal, this.#onSignal);
    process.off('exit', this.#onExit);
    this.resizes.end();
    try {
      process.stdin.setRawMode(false);
    } catch {
      // stdin is already gone (the terminal closed): there is nothing left to restore.
    }
    // Nothing reads the terminal after the session: a reader left on it would keep node alive.
    process.stdin.destroy();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #size(): WindowSize {
    const rows = this.#window?.rows ?? 0;
    const cols = this.#window?.columns ?? 0;
    return rows > 0 && cols > 0 ? { rows, cols } : FALLBACK_SIZE;
  }
}

/** The session `-t` asks for, or undefined without it; `-t` with `--json` is refused. */
export function ttySession(
  flags: Record<string, string | boolean | string[] | undefined>,
  stop: () => void,
): TtySession | undefined {
  if (flags.tty !== true) return undefined;
  if (flags.json === true)
    throw usageError('-t and --json do not go together: a terminal session is not one JSON result');
  return new TtySession(stop);
}

/** Sends the window's sizes to a running call until the session closes. */
export async function followWindow(
  session: TtySession,
  call: { resize(size: WindowSize): boolean },
): Promise<void> {
  for await (const size of session.resizes) call.resize(size);
}
