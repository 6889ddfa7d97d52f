/** A one-reader queue of chunks that ends when closed: turns pushed input into an AsyncIterable. */
export class AsyncQueue<T> implements AsyncIterable<T> {
  readonly #items: T[] = [];
  readonly #latestOnly: boolean;
  #wake: (() => void) | undefined;
  #ended = false;

  /** latestOnly: an item not yet read is replaced by the next (a window's sizes: the last wins). */
  constructor(options: { latestOnly?: boolean } = {}) {
    this.#latestOnly = options.latestOnly === true;
  }

  /** Queues an item; after end() items are dropped, since nobody will read them. */
  push(item: T): void {
    if (this.#ended) return;
    if (this.#latestOnly) this.#items.length = 0;
    this.#items.push(item);
    this.#wake?.();
  }

  end(): void {
    this.#ended = true;
    this.#wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
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
