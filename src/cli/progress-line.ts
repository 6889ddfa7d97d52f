import { formatBytes } from '../core/units.js';

/** How progress shows: redrawn in place on a terminal, plain lines in a log, nothing at all. */
export type ProgressMode = 'tty' | 'plain' | 'off';

/** The mode for the CLI's stderr: off with `--json` (its reader wants the one object only). */
export function progressMode(
  json: boolean,
  stream: { isTTY?: boolean } = process.stderr,
): ProgressMode {
  if (json) return 'off';
  return stream.isTTY === true ? 'tty' : 'plain';
}

/** Width of the bar itself, in cells: fits an 80-column terminal beside the numbers. */
const BAR_CELLS = 30;
/** A terminal's bar is redrawn at most this often: a fast copy must not flood the terminal. */
const REDRAW_MS = 100;
/** In plain mode, a byte count is logged each time it passes another quarter of the total. */
const PLAIN_STEPS = 4;

/**
 * Long work's progress on stderr (stdout is the command's own output): steps as lines, and for
 * work whose total is known, a bar. On a terminal the bar is one line redrawn in place and
 * erased before the next line; in plain mode each quarter of the way is a line of its own; off,
 * nothing is written.
 */
export class ProgressLine {
  readonly #mode: ProgressMode;
  readonly #write: (text: string) => void;
  #label = '';
  #total: number | undefined;
  #done = 0;
  #drawn = false;
  #lastDraw = 0;
  #plainStep = 0;
  #started = performance.now();

  constructor(
    mode: ProgressMode,
    write: (text: string) => void = (text) => void process.stderr.write(text),
  ) {
    this.#mode = mode;
    this.#write = write;
  }

  /** A step of the work, as a line (after the bar, which it replaces, on a terminal). */
  step(message: string): void {
    if (this.#mode === 'off') return;
    this.#erase();
    this.#write(`${message}${this.#newline()}`);
    if (this.#mode === 'tty' && this.#total !== undefined) this.#draw();
  }

  /** Starts counting bytes of `label` towards `total` (undefined: the total is not known). */
  begin(label: string, total: number | undefined): void {
    this.#label = label;
    this.#total = total;
    this.#done = 0;
    this.#plainStep = 0;
    this.#started = performance.now();
    if (this.#mode === 'plain')
      this.#write(`${label}${total === undefined ? '' : `: ${formatBytes(total)}`}\n`);
    if (this.#mode === 'tty') this.#draw();
  }

  /** `bytes` more of the work are done. */
  advance(bytes: number): void {
    this.#done += bytes;
    if (this.#mode === 'tty') {
      if (performance.now() - this.#lastDraw >= REDRAW_MS) this.#draw();
      return;
    }
    if (this.#mode === 'plain' && this.#total !== undefined && this.#total > 0) {
      const step = Math.min(PLAIN_STEPS - 1, Math.floor((this.#done / this.#total) * PLAIN_STEPS));
      for (; this.#plainStep < step;) {
        this.#plainStep++;
        this.#write(
          `${this.#label}: ${formatBytes(this.#done)} of ${formatBytes(this.#total)} (${(100 * this.#plainStep) / PLAIN_STEPS}%)\n`,
        );
      }
    }
  }

  /** The work is done: the bar gives way to one closing line. */
  end(message: string): void {
    if (this.#mode === 'off') return;
    this.#erase();
    this.#total = undefined;
    const seconds = ((performance.now() - this.#started) / 1000).toFixed(1);
    this.#write(`${message} (${formatBytes(this.#done)} in ${seconds} s)${this.#newline()}`);
  }

  /** Takes the bar off the terminal, for an error line to follow on a clean line. */
  clear(): void {
    if (this.#mode === 'tty') this.#erase();
  }

  /** A terminal in raw mode (an -it session) does not return the carriage on a newline. */
  #newline(): string {
    return this.#mode === 'tty' ? '\r\n' : '\n';
  }

  #draw(): void {
    this.#lastDraw = performance.now();
    const total = this.#total;
    let line: string;
    if (total === undefined || total === 0) line = `${this.#label}: ${formatBytes(this.#done)}`;
    else {
      // A tar is a little larger than the files in it: the bar stops short of full until the end.
      const share = Math.min(this.#done / total, 0.99);
      const cells = Math.round(share * BAR_CELLS);
      line = `${this.#label} [${'#'.repeat(cells)}${'.'.repeat(BAR_CELLS - cells)}] ${Math.floor(share * 100)}% ${formatBytes(this.#done)} / ${formatBytes(total)}`;
    }
    // \r and erase-line: the bar is redrawn where it was, never scrolled.
    this.#write(`\r\x1b[2K${line}`);
    this.#drawn = true;
  }

  #erase(): void {
    if (!this.#drawn) return;
    this.#write('\r\x1b[2K');
    this.#drawn = false;
  }
}
