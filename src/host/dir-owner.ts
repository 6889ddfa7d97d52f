import { readFileSync } from 'node:fs';
import { constants, open, readdir, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/*
 * Runtime directories (a gVisor box's bundle, a VM's sockets and RAM file) belong to the process
 * that made them, and only that process removes them. One killed with SIGKILL never does: the
 * directory records its owner (pid and start time, which together name one process for the
 * life of the host), and a later sweep removes the directories whose owner is gone.
 */

/** One process on this host: a pid is reused, a pid with its start time is not. */
export interface ProcessIdentity {
  pid: number;
  /** Clock ticks from boot to the process's start (field 22 of /proc/<pid>/stat). */
  start: string;
}

/** The file in each runtime directory that names its owner. */
export const OWNER_FILE = 'owner';

/** The largest owner file read: "<pid> <start>\n" is some 30 bytes. */
const OWNER_MAX_BYTES = 64;

/** An ownerless directory this old and empty was left between its mkdtemp and its owner file. */
const ORPHAN_AFTER_MS = 60_000;

let self: Promise<ProcessIdentity> | undefined;

/** This process, read once. */
function thisProcess(): Promise<ProcessIdentity> {
  self ??= processIdentity(process.pid).then((found) => found ?? { pid: process.pid, start: '' });
  return self;
}

/** The identity of the process `pid` now, or undefined when there is none. */
export async function processIdentity(pid: number): Promise<ProcessIdentity | undefined> {
  return identityOf(pid, await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined));
}

/**
 * processIdentity without waiting, for a caller that must name itself before it may go on (the
 * audit store, opened by the first record a process writes).
 */
export function processIdentityNow(pid: number): ProcessIdentity | undefined {
  let text: string | undefined;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    text = undefined;
  }
  return identityOf(pid, text);
}

function identityOf(pid: number, stat: string | undefined): ProcessIdentity | undefined {
  // The name (field 2) is in parentheses and may hold spaces: fields are counted after it.
  const start = stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  return start === undefined ? undefined : { pid, start };
}

/** This process as an owner file names it: "<pid> <start>\n". */
export async function ownerText(): Promise<string> {
  const { pid, start } = await thisProcess();
  return `${pid} ${start}\n`;
}

/** Records this process as the owner of `dir`, a directory it has just made. */
export async function markOwner(dir: string): Promise<void> {
  await writeFile(join(dir, OWNER_FILE), await ownerText(), { mode: 0o644, flag: 'wx' });
}

/** Whether the process that `text` (an owner file's contents) names is still running. */
export async function ownerAlive(text: string): Promise<boolean> {
  const match = /^(\d{1,10}) (\d{1,20})\n?$/.exec(text);
  if (!match?.[1] || !match[2]) return false;
  const now = await processIdentity(Number(match[1]));
  return now?.start === match[2];
}

/**
 * Removes the directories under `base` whose owner is no longer running, and those left without
 * an owner file that are empty and older than a minute; a directory of a live owner, or one made
 * a moment ago, is never touched. Returns the paths removed. The owner file is read with
 * O_NOFOLLOW and a size cap: a VMM may own the directory it lives in.
 */
export async function sweepDeadOwners(base: string): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(base).catch(() => [] as string[])) {
    const dir = join(base, name);
    const owner = await readOwner(dir);
    if (owner === undefined) {
      if (await isOldEmptyDir(dir)) {
        if (
          await rmdir(dir).then(
            () => true,
            () => false,
          )
        )
          removed.push(dir);
      }
      continue;
    }
    if (await ownerAlive(owner)) continue;
    await rm(dir, { recursive: true, force: true, maxRetries: 3 }).then(
      () => removed.push(dir),
      () => undefined,
    );
  }
  return removed;
}

async function readOwner(dir: string): Promise<string | undefined> {
  const handle = await open(join(dir, OWNER_FILE), constants.O_RDONLY | constants.O_NOFOLLOW).catch(
    () => undefined,
  );
  if (!handle) return undefined;
  try {
    const buffer = Buffer.alloc(OWNER_MAX_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, OWNER_MAX_BYTES, 0);
    return buffer.toString('utf8', 0, bytesRead);
  } finally {
    await handle.close();
  }
}

async function isOldEmptyDir(dir: string): Promise<boolean> {
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory() || Date.now() - info.mtimeMs < ORPHAN_AFTER_MS) return false;
  return (await readdir(dir).catch(() => ['?'])).length === 0;
}
