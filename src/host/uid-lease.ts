import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { UidRange } from '../core/box-uids.js';
import { IronClawError } from '../core/errors.js';
import { ownerAlive, ownerText } from './process-identity.js';

/*
 * Host uids for boxes, one per box, so that RLIMIT_NPROC (which the kernel counts per uid) is a
 * budget of each box rather than of all of them: with one shared uid, one box's fork bomb
 * starves every other box of processes. A uid is handed out only when nothing on the host uses
 * it (no process runs with it, no passwd or group entry names it) and no other IronClaw process
 * holds it: each lease is a file named after the uid, made with O_EXCL and naming its owner
 * process (pid and start time, as runtime directories do), so a lease of a process that died
 * is taken back by the next one that looks at it.
 */

/** Where leases live: machine-wide (uids are), whatever state directory a process uses. */
export const DEFAULT_LEASE_DIR = '/run/ironclaw/box-uids';

/** A uid held for one box until `release`. */
export interface UidLease {
  readonly uid: number;
  /** Gives the uid back (removes the lease file if it is still this process's). Idempotent. */
  release(): Promise<void>;
}

export interface LeaseOptions {
  dir?: string;
  signal?: AbortSignal;
  /** How old a scan of the host's processes may be to be used again (default SCAN_REUSE_MS). */
  maxScanAgeMs?: number;
}

/**
 * A scan of every process's ids costs 50-90 us per process (the kernel writes each status file
 * out): 5-20 ms on a quiet host with 70 processes, more on a desktop. Boxes started in a burst
 * (a pool refilling, back-to-back MCP runs) share one scan this young. It weakens nothing the
 * scan gives: a process that takes up a uid after the scan is missed either way, whether the scan
 * is a second old or a millisecond, and other IronClaw processes are kept apart by the leases.
 */
const SCAN_REUSE_MS = 1000;
let lastScan: { at: number; taken: Promise<Set<number>> } | undefined;

/** The ids in use by a scan no older than `maxAgeMs`; `reused` when it was made before this call. */
function recentUidsInUse(maxAgeMs: number): { taken: Promise<Set<number>>; reused: boolean } {
  const now = performance.now();
  if (lastScan !== undefined && now - lastScan.at <= maxAgeMs)
    return { taken: lastScan.taken, reused: true };
  lastScan = { at: now, taken: uidsInUse() };
  return { taken: lastScan.taken, reused: false };
}

/** Leases a free uid of `range` for one box; throws when every uid of it is taken. */
export async function leaseBoxUid(range: UidRange, options: LeaseOptions = {}): Promise<UidLease> {
  const dir = options.dir ?? DEFAULT_LEASE_DIR;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const mine = await ownerText();
  // A range that looks full by a scan made before this call is looked at again with a fresh
  // one: a process that scan saw may have ended since.
  for (const maxAgeMs of [options.maxScanAgeMs ?? SCAN_REUSE_MS, 0]) {
    const scan = recentUidsInUse(maxAgeMs);
    const taken = await scan.taken;
    // A random start, so that concurrent IronClaw processes seldom try the same uid first.
    const start = Math.floor(Math.random() * range.count);
    for (let index = 0; index < range.count; index++) {
      options.signal?.throwIfAborted();
      const uid = range.first + ((start + index) % range.count);
      if (taken.has(uid)) continue;
      const path = join(dir, String(uid));
      if ((await claim(path, mine)) || ((await reclaimDead(path)) && (await claim(path, mine))))
        return lease(uid, path, mine);
    }
    if (!scan.reused) break;
  }
  throw new IronClawError(
    'SANDBOX_START_FAILED',
    `no free box uid in ${range.first}..${range.first + range.count - 1}: each is used by a process, a passwd or group entry, or another box; widen boxUids in the configuration or destroy sandboxes`,
  );
}

/** Makes the lease file at `path`; false when it exists already. */
async function claim(path: string, owner: string): Promise<boolean> {
  return writeFile(path, owner, { mode: 0o600, flag: 'wx' }).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'EEXIST') return false;
      throw error;
    },
  );
}

/**
 * Takes back the lease at `path` if its owner died: it is first renamed aside (of two processes
 * doing this at once, one rename succeeds), then removed if it still names a dead owner, or put
 * back if someone took it meanwhile.
 */
async function reclaimDead(path: string): Promise<boolean> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined || (await ownerAlive(text))) return false;
  const aside = `${path}.reclaim-${process.pid}`;
  if (!(await rename(path, aside).then(...settled))) return false;
  const moved = await readFile(aside, 'utf8').catch(() => '');
  if (moved !== text && (await ownerAlive(moved))) {
    await rename(aside, path).catch(() => undefined);
    return false;
  }
  await rm(aside, { force: true });
  return true;
}

function lease(uid: number, path: string, mine: string): UidLease {
  let released: Promise<void> | undefined;
  return {
    uid,
    release: () => {
      released ??= readFile(path, 'utf8').then(
        (text) => (text === mine ? rm(path, { force: true }) : undefined),
        () => undefined,
      );
      return released;
    },
  };
}

const settled: [() => boolean, () => boolean] = [() => true, () => false];

/** Every uid and gid some process runs with, or a passwd or group entry names. */
async function uidsInUse(): Promise<Set<number>> {
  const taken = new Set<number>();
  const [passwd, group, pids] = await Promise.all([
    readFile('/etc/passwd', 'utf8').catch(() => ''),
    readFile('/etc/group', 'utf8').catch(() => ''),
    readdir('/proc').then((names) => names.filter((name) => /^\d+$/.test(name))),
  ]);
  for (const line of `${passwd}\n${group}`.split('\n')) {
    const id = line.split(':')[2];
    if (id !== undefined && /^\d+$/.test(id)) taken.add(Number(id));
  }
  const statuses = await Promise.all(
    pids.map((pid) => readFile(`/proc/${pid}/status`, 'utf8').catch(() => '')),
  );
  for (const status of statuses) {
    for (const field of ['Uid', 'Gid']) {
      const ids = new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(status)?.[1]?.split(/\s+/) ?? [];
      for (const id of ids) if (/^\d+$/.test(id)) taken.add(Number(id));
    }
  }
  return taken;
}

/**
 * Removes the leases of owners that died (killed with SIGKILL, a crash, or a one-shot box that
 * became its process and ended), which leaseBoxUid would otherwise take back only when it
 * happens to try that uid. A live owner's lease is never touched. Returns how many went.
 */
export async function sweepUidLeases(dir: string = DEFAULT_LEASE_DIR): Promise<number> {
  const names = await readdir(dir).catch(() => []);
  let swept = 0;
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    if (await reclaimDead(join(dir, name))) swept++;
  }
  return swept;
}
