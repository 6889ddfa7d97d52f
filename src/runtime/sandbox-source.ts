import type { BoxUids } from '../core/box-uids.js';
import type { EgressApprovalContext } from './egress-approval.js';
import type { DriverName } from '../core/isolation.js';
import type { Limits } from '../core/limits.js';
import type { BoxMount } from '../host/box-process.js';
import { createSandbox } from './create-sandbox.js';
import { sweepLeftovers } from './leftover-sweep.js';
import type { Sandbox } from './sandbox.js';
import { SandboxPool } from './sandbox-pool.js';
import { driverFor } from '../drivers/index.js';
import { PrimedBox } from './primed-box.js';
import { PrimedPool } from './primed-pool.js';

export interface SandboxSourceOptions {
  /** Driver of sandboxes that do not ask for one, and of the warm pool. */
  driver: DriverName;
  /** Ready sandboxes kept warm; 0 turns the pool off. */
  poolSize: number;
  /**
   * Primed boxes kept waiting for one-shot commands (MCP `run`: primed-box.ts), for a default
   * driver that can start a box before its command; 0 or absent: none kept.
   */
  primedPoolSize?: number | undefined;
  /** Host uid every box shares as root with `boxUids: false`. */
  rootBoxUid: number;
  /** As root: each box's own host uid from this range, or false (see SandboxOptions.boxUids). */
  boxUids?: BoxUids | undefined;
  /** Memory limit of a sandbox whose request gives none (see SandboxOptions). */
  defaultMemoryBytes?: number | undefined;
  /** Egress rules of a sandbox whose request gives none (the configuration's allowNet). */
  defaultAllowNet?: readonly string[] | undefined;
  /** The approval cliff over its sandboxes' egress (see SandboxOptions.approvals). */
  approvals?: Omit<EgressApprovalContext, 'project'> | undefined;
  /**
   * Told when the warm pool cannot start a sandbox (it tries again, backing off), and what the
   * start-up sweep of dead owners' leftovers removed.
   */
  log: { warn(message: string): void; info?(message: string): void };
}

export interface SandboxRequest {
  /** The new sandbox's id; a random one otherwise. */
  id?: string | undefined;
  driver?: DriverName | undefined;
  limits?: Partial<Limits> | undefined;
  /** Network egress rules: such a sandbox never comes from the pool. */
  allowNet?: readonly string[] | undefined;
  /** Host paths bound in, and variables of the box: such a sandbox never comes from the pool. */
  mounts?: readonly BoxMount[] | undefined;
  env?: Readonly<Record<string, string>> | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * Where sandboxes come from, for the daemon and for the MCP server: a warm pool for the common
 * case (default driver, default limits), a fresh box for anything else. A pooled sandbox is
 * handed out once and never reused, so no two takers ever share a box.
 */
export class SandboxSource {
  readonly #options: SandboxSourceOptions;
  readonly #pool: SandboxPool | undefined;
  readonly #primed: PrimedPool | undefined;

  constructor(options: SandboxSourceOptions) {
    this.#options = options;
    this.#primed =
      (options.primedPoolSize ?? 0) > 0 && driverFor(options.driver).capabilities.pipedStdin
        ? new PrimedPool({
            size: options.primedPoolSize ?? 0,
            box: this.#primedBoxOptions(options.driver),
            onError: (error) =>
              options.log.warn(
                `could not start a box for the one-shot pool: ${error instanceof Error ? error.message : String(error)}`,
              ),
          })
        : undefined;
    this.#pool =
      options.poolSize > 0
        ? new SandboxPool({
            size: options.poolSize,
            sandbox: {
              driver: options.driver,
              rootBoxUid: options.rootBoxUid,
              boxUids: options.boxUids,
              defaultMemoryBytes: options.defaultMemoryBytes,
            },
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

  /** Memory limit of a sandbox whose request gives none; undefined: none. */
  get defaultMemoryBytes(): number | undefined {
    return this.#options.defaultMemoryBytes;
  }

  /** Sandboxes ready in the warm pool, and how many it keeps. */
  get pool(): { ready: number; target: number } {
    return { ready: this.#pool?.readyCount ?? 0, target: this.#pool?.size ?? 0 };
  }

  /**
   * Starts filling the warm pool in the background, and sweeps what owners that died left on
   * the host (runtime directories, cgroups), so a daemon or MCP server restarted after a crash
   * cleans up after its predecessor.
   */
  start(): void {
    this.#pool?.start();
    this.#primed?.start();
    void sweepLeftovers().then(
      ({ cgroups, runtimeDirs, uidLeases, lostSandboxes }) => {
        if (cgroups + runtimeDirs + uidLeases + lostSandboxes > 0)
          this.#options.log.info?.(
            `cleaned up after dead owners: ${lostSandboxes} lost sandboxes recorded in the audit store, ${runtimeDirs} runtime directories, ${cgroups} cgroups and ${uidLeases} box uid leases removed`,
          );
      },
      (error: unknown) =>
        this.#options.log.warn(
          `could not sweep dead owners' leftovers: ${error instanceof Error ? error.message : String(error)}`,
        ),
    );
  }

  /** A started sandbox, the caller's to destroy; `fromPool` when it was ready and waiting. */
  async acquire(request: SandboxRequest = {}): Promise<{ sandbox: Sandbox; fromPool: boolean }> {
    const driver = request.driver ?? this.#options.driver;
    const limits = request.limits ?? {};
    const id = request.id === undefined ? {} : { id: request.id };
    const signal = request.signal === undefined ? {} : { signal: request.signal };
    // The pool is warmed with the default driver and limits (the default memory limit
    // included); anything else starts fresh.
    const allowNet = request.allowNet ?? this.#options.defaultAllowNet ?? [];
    const mounts = request.mounts ?? [];
    const env = request.env ?? {};
    const pooled =
      driver === this.#options.driver &&
      allowNet.length === 0 &&
      mounts.length === 0 &&
      Object.keys(env).length === 0 &&
      Object.values(limits).every((value) => value === undefined);
    if (pooled && this.#pool) {
      const ready = this.#pool.readyCount > 0;
      return { sandbox: await this.#pool.acquire({ ...id, ...signal }), fromPool: ready };
    }
    const sandbox = await createSandbox({
      driver,
      limits,
      rootBoxUid: this.#options.rootBoxUid,
      boxUids: this.#options.boxUids,
      defaultMemoryBytes: this.#options.defaultMemoryBytes,
      ...(allowNet.length === 0 ? {} : { allowNet }),
      ...(this.#options.approvals ? { approvals: this.#options.approvals } : {}),
      ...(mounts.length === 0 ? {} : { mounts }),
      ...(Object.keys(env).length === 0 ? {} : { env }),
      ...id,
      ...signal,
    });
    return { sandbox, fromPool: false };
  }

  /**
   * A box for one command (MCP `run`) started ahead of it, with no guest agent, when the request
   * allows one: a driver that can, no egress, no mounts, no variables of the box. It gets the
   * uid, cgroup and limits a sandbox for the same request would get. Returns what takes the box
   * (nothing is started before it is called); undefined: the request needs a sandbox (acquire).
   */
  primedFor(request: SandboxRequest = {}): (() => Promise<PrimedBox>) | undefined {
    const driver = request.driver ?? this.#options.driver;
    const allowNet = request.allowNet ?? this.#options.defaultAllowNet ?? [];
    if (
      !driverFor(driver).capabilities.pipedStdin ||
      allowNet.length > 0 ||
      (request.mounts?.length ?? 0) > 0 ||
      Object.keys(request.env ?? {}).length > 0
    )
      return undefined;
    const limits = request.limits ?? {};
    const signal = request.signal === undefined ? {} : { signal: request.signal };
    const pool = this.#primed;
    if (
      pool &&
      driver === this.#options.driver &&
      Object.values(limits).every((value) => value === undefined)
    )
      return () => pool.take(request.signal);
    return () => PrimedBox.start({ ...this.#primedBoxOptions(driver), limits, ...signal });
  }

  #primedBoxOptions(driver: DriverName): ConstructorParameters<typeof PrimedPool>[0]['box'] {
    return {
      driver,
      rootBoxUid: this.#options.rootBoxUid,
      boxUids: this.#options.boxUids,
      defaultMemoryBytes: this.#options.defaultMemoryBytes,
    };
  }

  /** Destroys the pools' waiting boxes; those handed out belong to their takers. */
  async close(): Promise<void> {
    await Promise.allSettled([this.#pool?.close(), this.#primed?.close()]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
