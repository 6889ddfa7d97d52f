import { access, constants, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * What this user can do with cgroups on this machine, found by the tests themselves rather than
 * by asking IronClaw, so a sandbox that claims a cgroup it does not have is caught.
 */
export type CgroupProbe =
  | {
      available: true;
      version: 1 | 2;
      /**
       * Every cgroup directory of the sandbox with this id (the driver names them
       * "<id>.<pid>-<n>"): found while the sandbox lives.
       */
      dirs(id: string): Promise<string[]>;
      /** How often the box's pids limit refused a fork (pids.events "max"). */
      pidsLimitHits(id: string): Promise<number>;
      /** How many processes the box's memory limit OOM-killed. */
      oomKills(id: string): Promise<number>;
    }
  | { available: false; reason: string };

const ROOT = '/sys/fs/cgroup';
const GROUP = 'ironclaw';

export async function probeCgroups(uid = process.getuid?.() ?? -1): Promise<CgroupProbe> {
  if (await exists(join(ROOT, 'cgroup.controllers'))) {
    const parent = process.env.IRONCLAW_CGROUP_PARENT ?? (uid === 0 ? ROOT : undefined);
    if (parent === undefined || !(await writable(parent))) {
      return {
        available: false,
        reason: `cgroup v2 is not writable by uid ${uid} and IRONCLAW_CGROUP_PARENT names no delegated cgroup`,
      };
    }
    const dir = (id: string): Promise<string> => boxDir(join(parent, GROUP), id);
    return {
      available: true,
      version: 2,
      dirs: async (id) => [await dir(id)],
      pidsLimitHits: async (id) => counter(join(await dir(id), 'pids.events'), 'max'),
      oomKills: async (id) => counter(join(await dir(id), 'memory.events'), 'oom_kill'),
    };
  }
  const memory = join(ROOT, 'memory');
  const pids = join(ROOT, 'pids');
  if (
    !(await exists(join(memory, 'cgroup.procs'))) ||
    !(await exists(join(pids, 'cgroup.procs')))
  ) {
    return {
      available: false,
      reason: `no cgroup v2 and no v1 memory+pids hierarchies under ${ROOT}`,
    };
  }
  if (!(await writable(memory)) || !(await writable(pids))) {
    return {
      available: false,
      reason: `cgroup v1 memory and pids hierarchies are not writable by uid ${uid}`,
    };
  }
  return {
    available: true,
    version: 1,
    dirs: (id) => Promise.all([boxDir(join(memory, GROUP), id), boxDir(join(pids, GROUP), id)]),
    pidsLimitHits: async (id) =>
      counter(join(await boxDir(join(pids, GROUP), id), 'pids.events'), 'max'),
    oomKills: async (id) =>
      counter(join(await boxDir(join(memory, GROUP), id), 'memory.oom_control'), 'oom_kill'),
  };
}

/** The one cgroup directory under `base` of the live sandbox `id` (tests' ids are unique). */
async function boxDir(base: string, id: string): Promise<string> {
  const prefix = `${id}.`;
  const found = (await readdir(base)).filter((name) => name.startsWith(prefix));
  if (found.length !== 1 || found[0] === undefined)
    throw new Error(`expected one cgroup ${prefix}* in ${base}, found ${JSON.stringify(found)}`);
  return join(base, found[0]);
}

/** A "name value" line of a cgroup statistics file. */
async function counter(file: string, name: string): Promise<number> {
  const text = await readFile(file, 'utf8');
  const match = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
  if (!match?.[1]) throw new Error(`${file} has no "${name}" line: ${JSON.stringify(text)}`);
  return Number(match[1]);
}

function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

function writable(path: string): Promise<boolean> {
  return access(path, constants.W_OK).then(
    () => true,
    () => false,
  );
}
