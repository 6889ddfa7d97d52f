import { readFile } from 'node:fs/promises';

/** The box's own memory cgroup in a VM guest (src/image/init.ts makes it); absent under bwrap. */
export const BOX_CGROUP = '/sys/fs/cgroup/box';
const MEMORY_EVENTS = `${BOX_CGROUP}/memory.events`;

/**
 * Tells whether the kernel's OOM killer struck since it last looked, from the box cgroup's
 * `oom_kill` counter. Read only when a command died of SIGKILL, so an exec pays nothing for it;
 * a kill of a background process since the last look is attributed to that command too.
 */
export class OomWatch {
  #seen: Promise<number | undefined>;

  constructor() {
    this.#seen = oomKills();
  }

  /** Whether it struck, and the limit it enforced (memory.max, when it is a number). */
  async killedSinceLastLook(): Promise<{ oomKilled: true; memoryLimitBytes?: number } | undefined> {
    const before = await this.#seen;
    if (before === undefined) return undefined;
    const now = await oomKills();
    this.#seen = Promise.resolve(now ?? before);
    if (now === undefined || now <= before) return undefined;
    const max = (await readFile(`${BOX_CGROUP}/memory.max`, 'utf8').catch(() => '')).trim();
    return /^\d+$/.test(max)
      ? { oomKilled: true, memoryLimitBytes: Number(max) }
      : { oomKilled: true };
  }
}

async function oomKills(): Promise<number | undefined> {
  const text = await readFile(MEMORY_EVENTS, 'utf8').catch(() => undefined);
  const match = text === undefined ? null : /^oom_kill (\d+)$/m.exec(text);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}
