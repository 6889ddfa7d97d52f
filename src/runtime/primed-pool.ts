import { PrimedBox, type PrimedBoxOptions } from './primed-box.js';

export interface PrimedPoolOptions {
  /** Primed boxes to keep waiting. */
  size: number;
  /** How every box of the pool is made (default limits: the pool serves those only). */
  box: Omit<PrimedBoxOptions, 'limits' | 'signal'>;
  onError?: (error: unknown) => void;
}

/**
 * Keeps `size` primed boxes (primed-box.ts) started and waiting, so a one-shot run costs no box
 * start-up. A box leaves the pool for good when taken and runs one command; the pool refills
 * at once, in the background: a primed box is a shell in a box, cheap enough to make beside a
 * running command, and the next `run` of a burst should find one waiting.
 */
export class PrimedPool {
  readonly #options: PrimedPoolOptions;
  readonly #ready: PrimedBox[] = [];
  #filling: Promise<void> | undefined;
  #closed = false;
  #failures = 0;

  constructor(options: PrimedPoolOptions) {
    this.#options = options;
  }

  get readyCount(): number {
    return this.#ready.length;
  }

  /** Starts filling the pool in the background. */
  start(): void {
    this.#refill();
  }

  /** Resolves once the pool holds `size` waiting boxes (for tests and benchmarks). */
  async whenFull(): Promise<void> {
    while (!this.#closed && this.#ready.length < this.#options.size) {
      this.#refill();
      await this.#filling;
    }
  }

  /** A waiting box if there is one, else a new one; either way the caller's to run or destroy. */
  async take(signal?: AbortSignal): Promise<PrimedBox> {
    let box = this.#ready.shift();
    while (box && !box.alive) {
      void box.destroy();
      box = this.#ready.shift();
    }
    if (box) {
      this.#refill();
      return box;
    }
    // None waiting (a burst drained the pool): this caller's own box first, then the refill,
    // so the two do not compete for the same cores.
    try {
      return await PrimedBox.start({ ...this.#options.box, ...(signal ? { signal } : {}) });
    } finally {
      this.#refill();
    }
  }

  /** Destroys the waiting boxes; taken ones belong to their takers. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#filling?.catch(() => undefined);
    await Promise.allSettled(this.#ready.splice(0).map((box) => box.destroy()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #refill(): void {
    if (this.#filling || this.#closed) return;
    this.#filling = (async () => {
      while (!this.#closed && this.#ready.length < this.#options.size) {
        try {
          const box = await PrimedBox.start(this.#options.box);
          if (this.#closed) await box.destroy();
          else this.#ready.push(box);
          this.#failures = 0;
        } catch (error) {
          this.#options.onError?.(error);
          // Back off so a machine that cannot start boxes is not hammered.
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
}
