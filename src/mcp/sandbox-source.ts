import type { DriverName } from '../core/isolation.js';
import type { Limits } from '../core/limits.js';
import { createSandbox } from '../runtime/create-sandbox.js';
import type { Sandbox } from '../runtime/sandbox.js';
import { SandboxPool } from '../runtime/sandbox-pool.js';
import type { Logger } from './logger.js';

export interface SandboxSourceOptions {
  /** Driver of sandboxes that do not ask for one, and of the warm pool. */
  driver: DriverName;
  /** Ready sandboxes kept warm; 0 turns the pool off. */
  poolSize: number;
  /** Host uid boxes run as when the server runs as root. */
  rootBoxUid: number;
  log: Logger;
}

export interface SandboxRequest {
  driver?: DriverName | undefined;
  limits?: Partial<Limits> | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * Where every session's sandboxes come from: a warm pool for the common case (default driver,
 * default limits), a fresh box for anything else. Shared by all sessions of one server; a pooled
 * sandbox is handed out once and never reused, so sessions never share a box.
 */
export class SandboxSource {
  readonly #options: SandboxSourceOptions;
  readonly #pool: SandboxPool | undefined;

  constructor(options: SandboxSourceOptions) {
    this.#options = options;
    this.#pool =
      options.poolSize > 0
        ? new SandboxPool({
            size: options.poolSize,
            sandbox: { driver: options.driver, rootBoxUid: options.rootBoxUid },
            onError: (error) =>
              options.log.warn(
                `could not start a sandbox for the warm pool: ${error instanceof Error ? error.message : String(error)}`,
              ),
          })
        : undefined;
  }

  get defaultDriver(): DriverName {
    return this.#options.driver;
  }

  /** Starts filling the warm pool in the background. */
  start(): void {
    this.#pool?.start();
  }

  /** A started sandbox, the caller's to destroy. */
  async acquire(request: SandboxRequest = {}): Promise<{ sandbox: Sandbox; fromPool: boolean }> {
    const driver = request.driver ?? this.#options.driver;
    const limits = request.limits ?? {};
    const signal = request.signal === undefined ? {} : { signal: request.signal };
    const pooled =
      this.#pool !== undefined &&
      driver === this.#options.driver &&
      Object.values(limits).every((value) => value === undefined);
    if (pooled && this.#pool) {
      const ready = this.#pool.readyCount > 0;
      return { sandbox: await this.#pool.acquire(signal), fromPool: ready };
    }
    const sandbox = await createSandbox({
      driver,
      limits,
      rootBoxUid: this.#options.rootBoxUid,
      ...signal,
    });
    return { sandbox, fromPool: false };
  }

  async close(): Promise<void> {
    await this.#pool?.close();
  }
}
