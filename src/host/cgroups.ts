import {
  access,
  constants,
  mkdir,
  readdir,
  readFile,
  rmdir,
  stat,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { IronClawError } from '../core/errors.js';
import type { Limits } from '../core/limits.js';
import type { BoxStats } from '../core/cgroup-v2-stats.js';
import { cgroupV1Stats, cgroupV2Stats } from './cgroup-stats.js';

/** One sandbox's cgroup(s): limits set, processes attached, removed at destroy. */
export interface BoxCgroup {
  readonly paths: readonly string[];
  attach(pid: number): Promise<void>;
  /** How many processes the memory limit's OOM killer has killed in it (0 when unknown). */
  oomKills(): Promise<number>;
  /** Memory, pids and CPU used, against the limits the kernel holds. */
  stats(): Promise<BoxStats>;
  /** Kills every process left in the cgroup and removes it. Idempotent. */
  remove(): Promise<void>;
}

/** A way to make cgroups on this machine, or why there is none. */
export type CgroupBackend =
  | {
      available: true;
      version: 1 | 2;
      describe: string;
      create(id: string, limits: Limits): Promise<BoxCgroup>;
      /** Removes box cgroups left behind by a crashed IronClaw (see sweepStale). */
      sweep(): Promise<number>;
    }
  | { available: false; reason: string };

const CGROUP_ROOT = '/sys/fs/cgroup';
const GROUP = 'ironclaw';

/**
 * Finds how this machine can limit memory and pids: cgroup v2 (unified), or v1 with separate
 * memory and pids hierarchies (as on the development machine). Needs write access to the
 * hierarchy: root, or a delegated cgroup named by IRONCLAW_CGROUP_PARENT (v2).
 */
export function detectCgroups(root = CGROUP_ROOT): Promise<CgroupBackend> {
  // The host's hierarchy does not change under a running process: look once (one-shot runs,
  // sandboxes and the daemon's sweep all ask).
  if (root !== CGROUP_ROOT) return detectAt(root);
  detected ??= detectAt(root);
  return detected;
}

let detected: Promise<CgroupBackend> | undefined;

async function detectAt(root: string): Promise<CgroupBackend> {
  if (await exists(join(root, 'cgroup.controllers'))) return detectV2(root);
  if (
    (await exists(join(root, 'memory', 'cgroup.procs'))) &&
    (await exists(join(root, 'pids', 'cgroup.procs')))
  ) {
    const bases = { memory: join(root, 'memory', GROUP), pids: join(root, 'pids', GROUP) };
    const writable = (await canWrite(join(root, 'memory'))) && (await canWrite(join(root, 'pids')));
    if (!writable) {
      return {
        available: false,
        reason:
          'cgroup v1 hierarchies are not writable by this user (run as root, or use a machine with cgroup v2 delegation)',
      };
    }
    return {
      available: true,
      version: 1,
      describe: `cgroup v1 (${bases.memory}, ${bases.pids})`,
      create: (id, limits) => createV1(bases, id, limits),
      sweep: async () => (await sweepStale(bases.memory)) + (await sweepStale(bases.pids)),
    };
  }
  return { available: false, reason: `no cgroup v2 or v1 memory+pids hierarchy under ${root}` };
}

async function detectV2(root: string): Promise<CgroupBackend> {
  const parent =
    process.env.IRONCLAW_CGROUP_PARENT ?? (process.getuid?.() === 0 ? root : undefined);
  if (!parent) {
    return {
      available: false,
      reason:
        'cgroup v2 needs root or a delegated cgroup: start IronClaw under `systemd-run --user --scope -p Delegate=yes` and set IRONCLAW_CGROUP_PARENT to a writable cgroup directory',
    };
  }
  const controllers = (
    await readFile(join(parent, 'cgroup.controllers'), 'utf8').catch(() => '')
  ).split(/\s+/);
  const missing = ['memory', 'pids'].filter((name) => !controllers.includes(name));
  if (missing.length > 0)
    return {
      available: false,
      reason: `cgroup v2 at ${parent} lacks the ${missing.join(' and ')} controller`,
    };
  if (!(await canWrite(parent)))
    return { available: false, reason: `cgroup v2 at ${parent} is not writable by this user` };
  const base = join(parent, GROUP);
  return {
    available: true,
    version: 2,
    describe: `cgroup v2 (${base})`,
    sweep: () => sweepStale(base),
    create: async (id, limits) => {
      await enableControllers(parent);
      await mkdir(base, { recursive: true });
      await enableControllers(base);
      return createV2(join(base, await makeUnique([base], id)), limits);
    },
  };
}

async function enableControllers(dir: string): Promise<void> {
  const enabled = await readFile(join(dir, 'cgroup.subtree_control'), 'utf8');
  const wanted = ['memory', 'pids'].filter((name) => !enabled.split(/\s+/).includes(name));
  if (wanted.length > 0)
    await writeFile(join(dir, 'cgroup.subtree_control'), wanted.map((n) => `+${n}`).join(' '));
}

async function createV2(path: string, limits: Limits): Promise<BoxCgroup> {
  const cgroup: BoxCgroup = {
    paths: [path],
    attach: (pid) => writeFile(join(path, 'cgroup.procs'), String(pid)),
    oomKills: () => counter(join(path, 'memory.events'), 'oom_kill'),
    stats: () => cgroupV2Stats(path),
    remove: () =>
      removeCgroup(path, async () => {
        await writeFile(join(path, 'cgroup.kill'), '1').catch(() => undefined);
      }),
  };
  try {
    await writeFile(join(path, 'pids.max'), String(limits.pids));
    if (limits.memoryBytes !== undefined) {
      await writeFile(join(path, 'memory.max'), String(limits.memoryBytes));
      await writeFile(join(path, 'memory.swap.max'), '0').catch(() => undefined);
    }
  } catch (error) {
    await cgroup.remove();
    throw unenforceable(path, error);
  }
  return cgroup;
}

async function createV1(
  bases: { memory: string; pids: string },
  id: string,
  limits: Limits,
): Promise<BoxCgroup> {
  await mkdir(bases.memory, { recursive: true });
  await mkdir(bases.pids, { recursive: true });
  const unique = await makeUnique([bases.memory, bases.pids], id);
  const memory = join(bases.memory, unique);
  const pids = join(bases.pids, unique);
  const cgroup: BoxCgroup = {
    paths: [memory, pids],
    attach: async (pid) => {
      await writeFile(join(pids, 'cgroup.procs'), String(pid));
      await writeFile(join(memory, 'cgroup.procs'), String(pid));
    },
    oomKills: () => counter(join(memory, 'memory.oom_control'), 'oom_kill'),
    stats: () => cgroupV1Stats(memory, pids),
    remove: async () => {
      await Promise.allSettled([
        removeCgroup(pids, () => killAll(pids)),
        removeCgroup(memory, () => killAll(memory)),
      ]);
    },
  };
  try {
    await writeFile(join(pids, 'pids.max'), String(limits.pids));
    if (limits.memoryBytes !== undefined) {
      await writeFile(join(memory, 'memory.limit_in_bytes'), String(limits.memoryBytes));
      // With swap accounting, memory+swap is capped at the same value: no escape into swap.
      if (await exists(join(memory, 'memory.memsw.limit_in_bytes'))) {
        await writeFile(join(memory, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes));
      }
    }
  } catch (error) {
    await cgroup.remove();
    throw unenforceable(memory, error);
  }
  return cgroup;
}

let named = 0;

/**
 * Makes the box's cgroup directory under each of `bases` (one per hierarchy), named after the
 * sandbox id plus a suffix unique on the host ("<id>.<pid>-<n>": ids have no dots). Ids are
 * names that two processes may both use (the daemon's sandbox "work" and a program's); one
 * cgroup shared by two boxes would let destroying either kill the other. mkdir, never
 * recursive, is what makes a name this box's alone.
 */
async function makeUnique(bases: readonly string[], id: string): Promise<string> {
  for (;;) {
    const name = `${id}.${process.pid}-${++named}`;
    const created: string[] = [];
    try {
      for (const base of bases) {
        await mkdir(join(base, name));
        created.push(join(base, name));
      }
      return name;
    } catch (error) {
      await Promise.allSettled(created.map((path) => rmdir(path)));
      // A cgroup left by a crashed process that had this pid: take the next number.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}

/** A box cgroup this old with no process in it was left behind: its box is gone. */
const STALE_AFTER_MS = 60_000;

/**
 * Removes the empty box cgroups under `base` that are older than a minute (a crashed run or
 * daemon never removed them). rmdir refuses a cgroup that still has processes, and the age
 * keeps clear of one created a moment ago and not yet joined.
 */
export async function sweepStale(base: string): Promise<number> {
  let removed = 0;
  for (const name of await readdir(base).catch(() => [] as string[])) {
    const path = join(base, name);
    const info = await stat(path).catch(() => undefined);
    if (!info?.isDirectory() || Date.now() - info.mtimeMs < STALE_AFTER_MS) continue;
    if (
      await rmdir(path).then(
        () => true,
        () => false,
      )
    )
      removed++;
  }
  return removed;
}

/** A "name value" line of a cgroup statistics file; 0 when the file or line is missing. */
async function counter(file: string, name: string): Promise<number> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const match = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
  return match?.[1] === undefined ? 0 : Number(match[1]);
}

async function killAll(path: string): Promise<void> {
  const text = await readFile(join(path, 'cgroup.procs'), 'utf8').catch(() => '');
  for (const pid of text.split('\n').filter(Boolean).map(Number)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/**
 * rmdir fails with EBUSY until the kernel has reaped the last process: retry briefly, calling
 * `kill` between tries; a cgroup that is already gone is fine.
 */
export async function removeCgroup(
  path: string,
  kill: () => Promise<void> = () => Promise.resolve(),
): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      await rmdir(path);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY') throw error;
      await kill();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
  throw new IronClawError('INTERNAL', `could not remove cgroup ${path}: processes are still in it`);
}

function unenforceable(path: string, error: unknown): IronClawError {
  const reason = error instanceof Error ? error.message : String(error);
  return new IronClawError(
    'POLICY_UNENFORCEABLE',
    `cannot set resource limits in ${path}: ${reason}`,
    { cause: error },
  );
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function canWrite(path: string): Promise<boolean> {
  return access(path, constants.W_OK).then(
    () => true,
    () => false,
  );
}
