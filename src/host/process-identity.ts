import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

/*
 * Which process owns something (a runtime directory, a box uid lease, a ledger record): a pid
 * with its start time, which together name one process for the life of the host. Apart from
 * dir-owner.ts so that the CLI's start-up bundle, which leases a box uid before it hands over to
 * the box, needs only readFile of node:fs/promises for it.
 */

/** One process on this host: a pid is reused, a pid with its start time is not. */
export interface ProcessIdentity {
  pid: number;
  /** Clock ticks from boot to the process's start (field 22 of /proc/<pid>/stat). */
  start: string;
}

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

/** Whether the process that `text` (an owner file's contents) names is still running. */
export async function ownerAlive(text: string): Promise<boolean> {
  const match = /^(\d{1,10}) (\d{1,20})\n?$/.exec(text);
  if (!match?.[1] || !match[2]) return false;
  const now = await processIdentity(Number(match[1]));
  return now?.start === match[2];
}
