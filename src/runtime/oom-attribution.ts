import type { ExecResult } from '../protocol/guest-api.js';
import type { BoxProcess } from '../host/box-process.js';

/**
 * Marks the commands of one box that the OOM killer ended, from its host cgroup's kill counter:
 * only a SIGKILL that no timeout or cancel sent is looked into, and a kill counted since the last
 * look is its. A result the guest already marked (a VM's own cgroup) gets the limit added.
 */
export class OomAttribution {
  readonly #box: BoxProcess;
  #seen = 0;

  constructor(box: BoxProcess) {
    this.#box = box;
  }

  async mark(result: ExecResult): Promise<ExecResult> {
    const { memoryLimitBytes } = this.#box;
    const limit = memoryLimitBytes === undefined ? {} : { memoryLimitBytes };
    if (result.oomKilled) return { ...result, ...limit };
    if (result.signal !== 'SIGKILL' || result.timedOut || !this.#box.oomKills) return result;
    const kills = await this.#box.oomKills();
    if (kills <= this.#seen) return result;
    this.#seen = kills;
    return { ...result, oomKilled: true, ...limit };
  }
}
