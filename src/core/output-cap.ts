/**
 * Output kept for a result when the caller sets no cap (an exec collected in memory, `--json`):
 * past it, output is dropped and counted, never silently.
 */
export const DEFAULT_OUTPUT_CAP_BYTES = 8 * 1024 * 1024;

/**
 * Counts output against a cap shared by stdout and stderr. Output past the cap is dropped and
 * counted, and one explicit marker says so: a reader never mistakes a cut stream for a whole one.
 */
export class OutputCap {
  readonly #limit: number;
  #sent = 0;
  #dropped = 0;
  #markerDue = false;

  constructor(limit: number) {
    this.#limit = limit;
  }

  get truncated(): boolean {
    return this.#dropped > 0;
  }

  get dropped(): number {
    return this.#dropped;
  }

  /** The part of `chunk` that still fits under the cap. */
  take(chunk: Buffer): Buffer {
    const room = Math.max(0, this.#limit - this.#sent);
    const kept = chunk.length <= room ? chunk : chunk.subarray(0, room);
    this.#sent += kept.length;
    if (kept.length < chunk.length) {
      if (this.#dropped === 0) this.#markerDue = true;
      this.#dropped += chunk.length - kept.length;
    }
    return kept;
  }

  /** The truncation marker, once, right after the cap is first hit. */
  takeMarker(): string | undefined {
    if (!this.#markerDue) return undefined;
    this.#markerDue = false;
    return `\n[ironclaw: output truncated at ${this.#limit} bytes; the rest is dropped]\n`;
  }
}
