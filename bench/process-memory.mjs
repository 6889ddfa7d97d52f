// Host memory of the processes this benchmark started: each process's proportional set size
// (/proc/PID/smaps_rollup Pss: its private pages plus its share of pages it shares), summed per
// box. A box is one subtree under this process: bwrap's two processes, the agent and its exec
// stub; runsc with its gofer, sentry and stubs; QEMU.
import { readFile, readdir } from 'node:fs/promises';

/** @typedef {{ pid: number, ppid: number, name: string }} Proc */

/** @returns {Promise<Proc[]>} every process this one can see */
async function processes() {
  const found = await Promise.all(
    (await readdir('/proc'))
      .filter((name) => /^\d+$/.test(name))
      .map((pid) =>
        readFile(`/proc/${pid}/stat`, 'utf8').then(
          (stat) => {
            // The command name may hold spaces and parentheses: it ends at the last ')'.
            const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
            const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
            return { pid: Number(pid), ppid: Number(fields[1]), name };
          },
          () => undefined, // gone since readdir
        ),
      ),
  );
  return found.filter((proc) => proc !== undefined);
}

/** @param {number} pid @returns {Promise<number>} KiB, 0 when the process is gone */
async function pssKiB(pid) {
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
  return Number(/^Pss:\s+(\d+) kB/m.exec(rollup)?.[1] ?? 0);
}

/**
 * A process's name for the breakdown: node's main thread calls itself MainThread, and runsc's
 * gofer and sandbox are both "exe" (runsc re-executes /proc/self/exe), told apart by argv[0].
 * @param {Proc} proc
 */
async function label(proc) {
  if (proc.name === 'MainThread') return 'node (agent)';
  if (proc.name !== 'exe') return proc.name;
  const argv0 = (await readFile(`/proc/${proc.pid}/cmdline`, 'utf8').catch(() => '')).split(
    '\0',
  )[0];
  return argv0 ? (argv0.split('/').pop() ?? proc.name) : proc.name;
}

/**
 * The PSS of each subtree hanging off this process, in MiB, with a per-process-name breakdown
 * summed over all of them.
 * @param {ReadonlySet<number>} [skip] children of this process that are not boxes (from before)
 * @returns {Promise<{ boxes: number[], tops: number[], byName: Record<string, number> }>}
 */
export async function boxMemory(skip = new Set()) {
  const all = await processes();
  /** @type {Map<number, Proc[]>} */
  const children = new Map();
  for (const proc of all) children.set(proc.ppid, [...(children.get(proc.ppid) ?? []), proc]);
  const boxes = [];
  const tops = [];
  /** @type {Record<string, number>} */
  const byName = {};
  for (const top of children.get(process.pid) ?? []) {
    if (skip.has(top.pid)) continue;
    tops.push(top.pid);
    let kib = 0;
    const stack = [top];
    for (let proc = stack.pop(); proc !== undefined; proc = stack.pop()) {
      const own = await pssKiB(proc.pid);
      kib += own;
      const name = await label(proc);
      byName[name] = (byName[name] ?? 0) + own / 1024;
      stack.push(...(children.get(proc.pid) ?? []));
    }
    boxes.push(kib / 1024);
  }
  return { boxes, tops, byName };
}
