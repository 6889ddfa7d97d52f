import { access, constants, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * What this user can do with cgroups on this machine, found by the tests themselves rather than
 * by asking IronClaw, so a sandbox that claims a cgroup it does not have is caught.
 */
export type CgroupProbe =
  | {
      available: true;
      version: 1 | 2;
      /** Every cgroup directory a sandbox with this id gets. */
      dirs(id: string): string[];
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
    const dir = (id: string): string => join(parent, GROUP, id);
    return {
      available: true,
      version: 2,
      dirs: (id) => [dir(id)],
      pidsLimitHits: (id) => counter(join(dir(id), 'pids.events'), 'max'),
      oomKills: (id) => counter(join(dir(id), 'memory.events'), 'oom_kill'),
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
    dirs: (id) => [join(memory, GROUP, id), join(pids, GROUP, id)],
    pidsLimitHits: (id) => counter(join(pids, GROUP, id, 'pids.events'), 'max'),
    oomKills: (id) => counter(join(memory, GROUP, id, 'memory.oom_control'), 'oom_kill'),
  };
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
