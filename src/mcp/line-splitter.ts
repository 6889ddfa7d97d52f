/** Bytes kept from each end of an oversized line: enough to find a JSON-RPC id written first or last. */
const EDGE_BYTES = 256;

/** A line over the cap, as reported once it ends: its size and its first and last bytes. */
export interface OversizedLine {
  bytes: number;
  head: string;
  tail: string;
}

/**
 * Splits a byte stream into newline-terminated lines, keeping at most `maxBytes` of one line: a
 * longer line is dropped as it streams past (reported once it ends, with its size and a few
 * bytes of each end), so a hostile writer cannot make us buffer without bound. A CR before the
 * newline is dropped, blank lines are skipped, and a last line without a newline is never
 * delivered: a line is whole only once its newline has come.
 */
export class LineSplitter {
  readonly #maxBytes: number;
  readonly #onLine: (line: string) => void;
  readonly #onOversized: (line: OversizedLine) => void;
  #chunks: Buffer[] = [];
  #size = 0;
  #discarding: { head: Buffer; tail: Buffer; bytes: number } | undefined;

  constructor(options: {
    maxBytes: number;
    onLine: (line: string) => void;
    onOversized: (line: OversizedLine) => void;
  }) {
    this.#maxBytes = options.maxBytes;
    this.#onLine = options.onLine;
    this.#onOversized = options.onOversized;
  }

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(0x0a, start);
      this.#take(chunk.subarray(start, newline === -1 ? chunk.length : newline));
      if (newline === -1) return;
      this.#endLine();
      start = newline + 1;
    }
  }

  /** Drops a partial line held so far (its owner is closing). */
  clear(): void {
    this.#chunks = [];
    this.#size = 0;
    this.#discarding = undefined;
  }

  #take(piece: Buffer): void {
    if (piece.length === 0) return;
    if (this.#discarding) {
      this.#discarding.bytes += piece.length;
      const { tail } = this.#discarding;
      this.#discarding.tail = Buffer.concat([tail, piece.subarray(-EDGE_BYTES)]).subarray(
        -EDGE_BYTES,
      );
      return;
    }
    this.#chunks.push(piece);
    this.#size += piece.length;
    if (this.#size > this.#maxBytes) {
      // Copies of the ends, so the line's bytes are not kept alive while it streams past.
      const whole = Buffer.concat(this.#chunks);
      this.#discarding = {
        head: Buffer.from(whole.subarray(0, EDGE_BYTES)),
        tail: Buffer.from(whole.subarray(-EDGE_BYTES)),
        bytes: whole.length,
      };
      this.#chunks = [];
      this.#size = 0;
    }
  }

  #endLine(): void {
    if (this.#discarding) {
      const { head, tail, bytes } = this.#discarding;
      this.#discarding = undefined;
      this.#onOversized({ bytes, head: head.toString('utf8'), tail: tail.toString('utf8') });
      return;
    }
    const line = Buffer.concat(this.#chunks).toString('utf8').replace(/\r$/, '');
    this.#chunks = [];
    this.#size = 0;
    if (line.trim() !== '') this.#onLine(line);
  }
}
