/**
 * Splits a byte stream into newline-terminated lines, keeping at most `maxBytes` of one line: a
 * longer line is dropped as it streams past (its size reported once it ends), so a hostile
 * writer cannot make us buffer without bound.
 */
export class LineSplitter {
  readonly #maxBytes: number;
  readonly #onLine: (line: string) => void;
  readonly #onOversized: (bytes: number) => void;
  #chunks: Buffer[] = [];
  #size = 0;
  #discarded: number | undefined;

  constructor(options: {
    maxBytes: number;
    onLine: (line: string) => void;
    onOversized: (bytes: number) => void;
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

  #take(piece: Buffer): void {
    if (piece.length === 0) return;
    if (this.#discarded !== undefined) {
      this.#discarded += piece.length;
      return;
    }
    this.#chunks.push(piece);
    this.#size += piece.length;
    if (this.#size > this.#maxBytes) {
      this.#discarded = this.#size;
      this.#chunks = [];
      this.#size = 0;
    }
  }

  #endLine(): void {
    if (this.#discarded !== undefined) {
      const bytes = this.#discarded;
      this.#discarded = undefined;
      this.#onOversized(bytes);
      return;
    }
    const line = Buffer.concat(this.#chunks).toString('utf8').replace(/\r$/, '');
    this.#chunks = [];
    this.#size = 0;
    if (line.trim() !== '') this.#onLine(line);
  }
}
