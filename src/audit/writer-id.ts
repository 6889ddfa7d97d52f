import { readFile } from 'node:fs/promises';

/**
 * Who wrote a record: pid and the process's start time in clock ticks since boot (field 22 of
 * /proc/PID/stat), so a pid the kernel has since reused does not pass for the writer.
 */
export async function writerId(pid: number = process.pid): Promise<string> {
  return `${pid}@${(await startTicks(pid)) ?? 'unknown'}`;
}

/** Whether the process that wrote `writer` still runs. */
export async function writerAlive(writer: string): Promise<boolean> {
  const match = /^(\d+)@(\d+|unknown)$/.exec(writer);
  if (!match) return false;
  const ticks = await startTicks(Number(match[1]));
  return ticks !== undefined && (match[2] === 'unknown' || String(ticks) === match[2]);
}

async function startTicks(pid: number): Promise<number | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined) return undefined;
  // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[19]);
  return Number.isFinite(ticks) ? ticks : undefined;
}
