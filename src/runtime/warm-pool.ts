/** What a warm pool holds: something started ahead that can die while it waits. */
export interface Pooled {
  readonly alive: boolean;
  destroy(): Promise<void>;
}

/**
 * The waiting half of a pool of things started ahead (sandboxes, primed boxes): it keeps `size`
 * of them made, hands each out once, and refills in the background, one at a time, backing off
 * when making one fails so that a machine that cannot start boxes is not hammered. When to
 * refill after a take, and what to do when none is waiting, is the owning pool's choice.
 */
export class WarmPool<T extends Pooled> {
  readonly size: number;
  readonly #make: (signal: AbortSignal) => Promise<T>;
  readonly #onError: ((error: unknown) => void) | undefined;
  readonly #ready: T[] = [];
  #filling: Promise<void> | undefined;
  #closed = false;
  /** Aborted by close(): a refill stops waiting for a box to get ready. */
  readonly #closing = new AbortController();
  #failures = 0;

  constructor(
    size: number,
    make: (signal: AbortSignal) => Promise<T>,
    onError?: (error: unknown) => void,
  ) {
    this.size = size;
    this.#make = make;
    this.#onError = onError;
  }

  get readyCount(): number {
    return this.#ready.length;
  }

  /** Resolves once the pool holds `size` waiting ones (for tests and benchmarks). */
  async whenFull(): Promise<void> {
    while (!this.#closed && this.#ready.length < this.size) {
      this.refill();
      await this.#filling;
    }
  }

  /** The oldest waiting one that is still alive (those that died are destroyed), if any. */
  take(): T | undefined {
    let item = this.#ready.shift();
    while (item && !item.alive) {
      void item.destroy();
      item = this.#ready.shift();
    }
    return item;
  }

  /** Starts making what is missing, unless that is already under way or the pool is closed. */
  refill(): void {
    if (this.#filling || this.#closed) return;
    this.#filling = (async () => {
      while (!this.#closed && this.#ready.length < this.size) {
        try {
          const item = await this.#make(this.#closing.signal);
          if (this.#closed) await item.destroy();
          else this.#ready.push(item);
          this.#failures = 0;
        } catch (error) {
          if (this.#closed) break;
          this.#onError?.(error);
          this.#failures++;
          await new Promise((resolve) =>
            setTimeout(resolve, Math.min(30_000, 100 * 2 ** this.#failures)),
          );
        }
      }
    })().finally(() => {
      this.#filling = undefined;
    });
  }

  /** Destroys the waiting ones; taken ones belong to their takers. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#closing.abort();
    await this.#filling?.catch(() => undefined);
    await Promise.allSettled(this.#ready.splice(0).map((item) => item.destroy()));
  }
}
