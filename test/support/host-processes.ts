import { readdir, readFile, readlink } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/** A host process as seen in the host's /proc. */
export interface HostProcess {
  /** Host pid. */
  pid: number;
  /** Pid in the innermost pid namespace (the last NSpid field): 1 is the box's init. */
  innerPid: number;
  name: string;
  /** One letter: R, S, Z, ... */
  state: string;
  /** Real uid on the host. */
  uid: number;
}

/** The pid-namespace link of a host process, e.g. "pid:[4026532281]". */
export function pidNamespaceOf(pid: number): Promise<string> {
  return readlink(`/proc/${pid}/ns/pid`);
}

/**
 * Every host process whose pid namespace is `namespace`. Processes whose link this user may not
 * read (other users' processes) or that exit during the scan are left out, so callers must show
 * that the scan sees something (for example the box's own init) before trusting an empty answer.
 */
export async function processesInPidNamespace(namespace: string): Promise<HostProcess[]> {
  const found: HostProcess[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const link = await readlink(`/proc/${entry}/ns/pid`).catch(() => undefined);
    if (link !== namespace) continue;
    const status = await readFile(`/proc/${entry}/status`, 'utf8').catch(() => undefined);
    if (status !== undefined) found.push(parseStatus(Number(entry), status));
  }
  return found;
}

/** Reads one host process's status, or undefined once it is gone. */
export async function hostProcess(pid: number): Promise<HostProcess | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  return status === undefined ? undefined : parseStatus(pid, status);
}

function parseStatus(pid: number, status: string): HostProcess {
  const field = (name: string): string =>
    new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '';
  const nsPids = field('NSpid').split(/\s+/).filter(Boolean);
  return {
    pid,
    innerPid: Number(nsPids.at(-1) ?? pid),
    name: field('Name'),
    state: field('State').charAt(0),
    uid: Number(field('Uid').split(/\s+/)[0]),
  };
}

/**
 * Polls `probe` until `done` holds or `timeoutMs` passes, and returns the last value: the caller
 * asserts on it, so a failure shows what was seen. This bounds waits for the kernel to reap
 * killed processes; it asserts nothing about how long that takes.
 */
export async function eventually<T>(
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  // Returns as soon as `done` holds: the deadline only bounds a wait that fails, and is long
  // enough for a machine whose cores are busy with other work.
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value) || Date.now() >= deadline) return value;
    await sleep(50);
  }
}

/** Host processes whose command line contains `marker`. */
export async function hostPidsWith(marker: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(marker) && !cmdline.includes('nohup')) found.push(Number(entry));
  }
  return found;
}

/** The host pids of every descendant of `root` (children first found, breadth first). */
export async function descendantPids(root: number): Promise<number[]> {
  const found: number[] = [];
  const queue = [root];
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    const tasks = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
    for (const task of tasks) {
      const children = await readFile(`/proc/${pid}/task/${task}/children`, 'utf8').catch(() => '');
      for (const child of children.split(' ').filter(Boolean).map(Number)) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

/** A process's start time (clock ticks since boot), or undefined once it is gone. */
export async function startTimeOf(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}
