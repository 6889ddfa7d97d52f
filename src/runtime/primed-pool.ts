import { PrimedBox, type PrimedBoxOptions } from './primed-box.js';
import { WarmPool } from './warm-pool.js';

/** How long after a take the pool starts refilling (see PrimedPool). */
const REFILL_DELAY_MS = 50;

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
 * REFILL_DELAY_MS later, in the background. Not at once: starting a box spawns bwrap, which
 * holds this process's event loop for milliseconds, and the leased uid's scan of the host's
 * processes takes a core for as long; made beside the taker's command, the refill doubled the
 * latency of a paced MCP `run` (28.6 ms p50, against 10-12 ms with the delay, same machine).
 */
export class PrimedPool {
  readonly #options: PrimedPoolOptions;
  readonly #pool: WarmPool<PrimedBox>;

  constructor(options: PrimedPoolOptions) {
    this.#options = options;
    this.#pool = new WarmPool(
      options.size,
      (signal) => PrimedBox.start({ ...options.box, signal }),
      options.onError,
    );
  }

  get readyCount(): number {
    return this.#pool.readyCount;
  }

  /** Starts filling the pool in the background. */
  start(): void {
    this.#pool.refill();
  }

  /** Resolves once the pool holds `size` waiting boxes (for tests and benchmarks). */
  whenFull(): Promise<void> {
    return this.#pool.whenFull();
  }

  /** A waiting box if there is one, else a new one; either way the caller's to run or destroy. */
  async take(signal?: AbortSignal): Promise<PrimedBox> {
    const box = this.#pool.take();
    if (box) {
      setTimeout(() => this.#pool.refill(), REFILL_DELAY_MS).unref();
      return box;
    }
    // None waiting (a burst drained the pool): this caller's own box first, then the refill,
    // so the two do not compete for the same cores.
    try {
      return await PrimedBox.start({ ...this.#options.box, ...(signal ? { signal } : {}) });
    } finally {
      this.#pool.refill();
    }
  }

  /** Destroys the waiting boxes; taken ones belong to their takers. */
  close(): Promise<void> {
    return this.#pool.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
