import { unwrap } from '../core/errors.js';
import { checkId } from '../core/ids.js';
import { createSandbox, type SandboxOptions } from './create-sandbox.js';
import type { Sandbox } from './sandbox.js';
import { untilExecReady } from '../protocol/exec-ready.js';
import type { PingResult } from '../protocol/guest-api.js';

const REFILL_DELAY_MS = 50;

export interface SandboxPoolOptions {
  /** Ready sandboxes to keep. */
  size: number;
  /** The configuration every sandbox of this pool is created with. */
  sandbox?: Omit<SandboxOptions, 'id' | 'signal'>;
  onError?: (error: unknown) => void;
}

/**
 * Keeps `size` sandboxes started and answering, so taking one costs no box or node start-up.
 * A sandbox leaves the pool for good when taken: it is never handed out twice, and the pool
 * refills in the background, one sandbox at a time.
 */
export class SandboxPool {
  readonly #options: SandboxPoolOptions;
  readonly #ready: Sandbox[] = [];
  #filling: Promise<void> | undefined;
  #closed = false;
  /** Aborted by close(): a refill stops waiting for a box to get ready. */
  readonly #closing = new AbortController();
  #failures = 0;

  constructor(options: SandboxPoolOptions) {
    this.#options = options;
  }

  get readyCount(): number {
    return this.#ready.length;
  }

  get size(): number {
    return this.#options.size;
  }

  /** Starts filling the pool in the background. */
  start(): void {
    this.#refill();
  }

  /** Resolves once the pool holds `size` ready sandboxes (for tests and benchmarks). */
  async whenFull(): Promise<void> {
    while (!this.#closed && this.#ready.length < this.#options.size) {
      this.#refill();
      await this.#filling;
    }
  }

  /** A ready sandbox if there is one, else a new one; either way it is the caller's to destroy. */
  async acquire(options: { id?: string; signal?: AbortSignal } = {}): Promise<Sandbox> {
    const id = options.id === undefined ? undefined : unwrap(checkId(options.id));
    let sandbox = this.#ready.shift();
    while (sandbox && !sandbox.alive) {
      void sandbox.destroy();
      sandbox = this.#ready.shift();
    }
    // Refill a little later: on a small machine a new box starting now would compete with the
    // taker's first command, which is the latency the pool exists to cut.
    setTimeout(() => this.#refill(), REFILL_DELAY_MS).unref();
    if (sandbox) {
      if (id !== undefined) sandbox.relabel(id);
      return sandbox;
    }
    return createSandbox({
      ...this.#options.sandbox,
      ...(id === undefined ? {} : { id }),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  /** Destroys the ready sandboxes; taken ones belong to their takers. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#closing.abort();
    await this.#filling?.catch(() => undefined);
    await Promise.allSettled(this.#ready.splice(0).map((sandbox) => sandbox.destroy()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #refill(): void {
    if (this.#filling || this.#closed) return;
    this.#filling = (async () => {
      while (!this.#closed && this.#ready.length < this.#options.size) {
        try {
          const sandbox = await createSandbox(this.#options.sandbox);
          // One throwaway command, run through the process the agent makes ahead of time,
          // warms the guest's exec path (a first exec costs several times a later one); then
          // the agent makes the next one, and the taker's first command runs warm, in it.
          const ping = (): Promise<PingResult> => sandbox.ping();
          await untilExecReady(ping, this.#closing.signal);
          await sandbox.exec(['true']).catch(() => undefined);
          await untilExecReady(ping, this.#closing.signal);
          if (this.#closed) await sandbox.destroy();
          else this.#ready.push(sandbox);
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
