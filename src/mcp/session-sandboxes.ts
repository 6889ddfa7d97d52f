import { IronClawError } from '../core/errors.js';
import type { Limits } from '../core/limits.js';
import { PortForwards } from '../runtime/port-forwards.js';
import type { PrimedRun } from '../runtime/primed-box.js';
import type { RunOnceResult } from '../runtime/run-once-options.js';
import type { Sandbox } from '../runtime/sandbox.js';
import type { SandboxRequest, SandboxSource } from '../runtime/sandbox-source.js';
import type { Logger } from './logger.js';
import { LimitError } from './tool-result.js';

export interface SessionSandboxesOptions {
  source: SandboxSource;
  log: Logger;
  /** After this long without a call, the session's sandboxes are destroyed. */
  idleMs: number;
  /** Sandboxes one session may hold at once. */
  maxSandboxes: number;
  /** Called after an idle expiry, so a transport can end the session too. */
  onIdle?: () => void;
}

export interface SessionSandbox {
  readonly sandbox: Sandbox;
  /** Exec timeout for calls that give none, chosen at sandbox_create. */
  readonly defaultTimeoutSeconds: number;
  readonly createdAt: Date;
  lastUsedAt: Date;
  /** The limits and egress rules it was created with, for the dashboard. */
  readonly limits: Partial<Limits>;
  readonly allowNet: readonly string[];
  /** Ports published on host loopback (sandbox_create `ports`), closed with the sandbox. */
  readonly forwards?: PortForwards;
}

/**
 * The sandboxes of one client session. Ids are minted by the server (80 random bits) and looked
 * up only in the session that created them: an id from another session, a guessed one or a
 * destroyed one is "no such sandbox", so a client can never reach a box it was not given. The
 * session's boxes are destroyed when it closes, or when no call has come for `idleMs`.
 */
export class SessionSandboxes {
  readonly #options: SessionSandboxesOptions;
  readonly #entries = new Map<string, SessionSandbox>();
  #pending = 0;
  #inFlight = 0;
  #lastActiveAt = performance.now();
  #closed = false;
  readonly #idleTimer: NodeJS.Timeout;

  constructor(options: SessionSandboxesOptions) {
    this.#options = options;
    this.#idleTimer = setTimeout(() => void this.#expire(), options.idleMs).unref();
  }

  get idleMs(): number {
    return this.#options.idleMs;
  }

  get maxSandboxes(): number {
    return this.#options.maxSandboxes;
  }

  /** True while a call runs or a sandbox is being made: the session is doing something. */
  get busy(): boolean {
    return this.#inFlight > 0 || this.#pending > 0;
  }

  /** Sandboxes the session holds (made by sandbox_create and not destroyed). */
  get held(): number {
    return this.#entries.size;
  }

  /** When a call last started or ended (performance.now()). */
  get lastActiveAt(): number {
    return this.#lastActiveAt;
  }

  /** Runs one call of this session: the session is not idle while a call runs. */
  async use<T>(call: () => Promise<T>): Promise<T> {
    this.#inFlight++;
    this.#lastActiveAt = performance.now();
    try {
      return await call();
    } finally {
      this.#inFlight--;
      this.#lastActiveAt = performance.now();
      if (!this.#closed) this.#idleTimer.refresh();
    }
  }

  async create(
    request: SandboxRequest & { defaultTimeoutSeconds: number; ports?: readonly number[] },
  ): Promise<SessionSandbox & { fromPool: boolean }> {
    const acquired = await this.#acquire(() => this.#options.source.acquire(request));
    if (this.#closed) {
      await acquired.sandbox.destroy();
      throw new IronClawError('SANDBOX_CLOSED', 'the session ended while its sandbox was starting');
    }
    const ports = request.ports ?? [];
    const forwards =
      ports.length === 0
        ? undefined
        : await PortForwards.open(
            acquired.sandbox,
            ports.map((boxPort) => ({ boxPort, hostPort: 0, address: '127.0.0.1' })),
          ).catch(async (error: unknown) => {
            await acquired.sandbox.destroy();
            throw error;
          });
    const now = new Date();
    const entry: SessionSandbox = {
      sandbox: acquired.sandbox,
      defaultTimeoutSeconds: request.defaultTimeoutSeconds,
      createdAt: now,
      lastUsedAt: now,
      limits: request.limits ?? {},
      allowNet: request.allowNet ?? [],
      ...(forwards ? { forwards } : {}),
    };
    this.#entries.set(acquired.sandbox.id, entry);
    this.#options.log.info(`created sandbox ${acquired.sandbox.id}`);
    return { ...entry, fromPool: acquired.fromPool };
  }

  /**
   * Lends a sandbox for one call (`run`) and destroys it afterwards. It counts against the
   * session's limit while it lives, so one client cannot start boxes without bound.
   */
  async oneShot<T>(request: SandboxRequest, use: (sandbox: Sandbox) => Promise<T>): Promise<T> {
    const { sandbox } = await this.#acquire(() => this.#options.source.acquire(request), {
      keepSlot: true,
    });
    try {
      return await use(sandbox);
    } finally {
      this.#pending--;
      await sandbox.destroy();
    }
  }

  /**
   * Runs one command (`run`) in a box started ahead of it, with no guest agent
   * (SandboxSource.primedFor), counted against the session's limit like oneShot. Undefined
   * when the request needs a sandbox: the caller then takes oneShot.
   */
  async runPrimed(request: SandboxRequest, run: PrimedRun): Promise<RunOnceResult | undefined> {
    const take = this.#options.source.primedFor(request);
    if (!take) return undefined;
    const box = await this.#acquire(take, { keepSlot: true });
    try {
      return await box.run(run);
    } finally {
      this.#pending--;
      await box.destroy();
    }
  }

  /** The session's sandbox with this id; any other id is "no such sandbox". */
  get(id: string): SessionSandbox {
    const entry = this.#entries.get(id);
    if (!entry) {
      throw new IronClawError(
        'SANDBOX_NOT_FOUND',
        `no such sandbox ${JSON.stringify(id.slice(0, 64))} in this session (it was never created here, or it was destroyed); sandbox_list shows this session's sandboxes, sandbox_create makes a new one`,
      );
    }
    entry.lastUsedAt = new Date();
    return entry;
  }

  list(): SessionSandbox[] {
    return [...this.#entries.values()];
  }

  async destroy(id: string): Promise<void> {
    const entry = this.get(id);
    this.#entries.delete(id);
    await Promise.allSettled([
      entry.forwards?.close() ?? Promise.resolve(),
      entry.sandbox.destroy(),
    ]);
    this.#options.log.info(`destroyed sandbox ${id}`);
  }

  /** Destroys every sandbox of the session. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#idleTimer);
    await this.#destroyAll('the session ended');
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #expire(): Promise<void> {
    if (this.#closed) return;
    // A call still running keeps the session; the timer is re-armed when it ends.
    if (this.#inFlight > 0) return;
    await this.#destroyAll(`no call for ${Math.round(this.#options.idleMs / 1000)} s`);
    this.#options.onIdle?.();
  }

  async #destroyAll(reason: string): Promise<void> {
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    if (entries.length > 0)
      this.#options.log.info(`destroying ${entries.length} sandbox(es): ${reason}`);
    await Promise.allSettled(
      entries.flatMap((entry) => [
        entry.forwards?.close() ?? Promise.resolve(),
        entry.sandbox.destroy(),
      ]),
    );
  }

  /** A sandbox (or primed box) from the source, within the session's limit. */
  async #acquire<T>(take: () => Promise<T>, options: { keepSlot?: boolean } = {}): Promise<T> {
    if (this.#closed) throw new IronClawError('SANDBOX_CLOSED', 'this session has ended');
    const max = this.#options.maxSandboxes;
    const held = this.#entries.size;
    // Only the sandboxes the caller holds are its doing; slots taken by calls still running
    // (a `run`, a sandbox_create still starting) come free by themselves.
    if (held >= max)
      throw new LimitError(
        `this session holds ${held} sandboxes, the most it may; destroy one it no longer needs with sandbox_destroy first`,
        'request',
      );
    if (held + this.#pending >= max)
      throw new LimitError(
        `all ${max} sandbox slots of this session are in use: it holds ${held} sandboxes and ${this.#pending} more are taken by calls in progress (run, or sandbox_create still starting); retry when one of those has finished`,
        'capacity',
      );
    this.#pending++;
    let acquired = false;
    try {
      const result = await take();
      acquired = true;
      return result;
    } finally {
      if (!acquired || !options.keepSlot) this.#pending--;
    }
  }
}
