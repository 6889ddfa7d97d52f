import { unwrap } from '../core/errors.js';
import { checkId } from '../core/ids.js';
import { createSandbox, type SandboxOptions } from './create-sandbox.js';
import type { Sandbox } from './sandbox.js';
import { untilExecReady } from '../protocol/exec-ready.js';
import type { PingResult } from '../protocol/guest-api.js';
import { WarmPool } from './warm-pool.js';

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
  readonly #pool: WarmPool<Sandbox>;

  constructor(options: SandboxPoolOptions) {
    this.#options = options;
    this.#pool = new WarmPool(
      options.size,
      (signal) => warmSandbox(options.sandbox, signal),
      options.onError,
    );
  }

  get readyCount(): number {
    return this.#pool.readyCount;
  }

  get size(): number {
    return this.#pool.size;
  }

  /** Starts filling the pool in the background. */
  start(): void {
    this.#pool.refill();
  }

  /** Resolves once the pool holds `size` ready sandboxes (for tests and benchmarks). */
  whenFull(): Promise<void> {
    return this.#pool.whenFull();
  }

  /** A ready sandbox if there is one, else a new one; either way it is the caller's to destroy. */
  async acquire(options: { id?: string; signal?: AbortSignal } = {}): Promise<Sandbox> {
    const id = options.id === undefined ? undefined : unwrap(checkId(options.id));
    const sandbox = this.#pool.take();
    // Refill a little later: on a small machine a new box starting now would compete with the
    // taker's first command, which is the latency the pool exists to cut.
    setTimeout(() => this.#pool.refill(), REFILL_DELAY_MS).unref();
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
  close(): Promise<void> {
    return this.#pool.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * A new sandbox whose exec path is warm: one throwaway command, run through the process the
 * agent makes ahead of time, warms the guest's exec path (a first exec costs several times a
 * later one); then the agent makes the next one, and the taker's first command runs warm, in it.
 */
async function warmSandbox(
  options: SandboxPoolOptions['sandbox'],
  signal: AbortSignal,
): Promise<Sandbox> {
  const sandbox = await createSandbox(options);
  try {
    const ping = (): Promise<PingResult> => sandbox.ping();
    await untilExecReady(ping, signal);
    await sandbox.exec(['true']).catch(() => undefined);
    await untilExecReady(ping, signal);
    return sandbox;
  } catch (error) {
    await sandbox.destroy();
    throw error;
  }
}
