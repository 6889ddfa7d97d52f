/**
 * A stream of byte chunks that one side pushes and an exec's stdin pump reads, in order. The
 * proxy writes whole messages and never waits on it: ordering is what matters here, and the
 * guest channel applies its own backpressure behind the pump.
 */
export class ByteQueue implements AsyncIterable<Uint8Array> {
  #items: Uint8Array[] = [];
  #ended = false;
  #wake: (() => void) | undefined;

  push(chunk: Uint8Array): boolean {
    if (this.#ended) return false;
    this.#items.push(chunk);
    this.#wake?.();
    return true;
  }

  /** No more chunks: the reader sees the end once it has taken what is queued. */
  end(): void {
    this.#ended = true;
    this.#wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      const item = this.#items.shift();
      if (item !== undefined) {
        yield item;
        continue;
      }
      if (this.#ended) return;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
  }
}
