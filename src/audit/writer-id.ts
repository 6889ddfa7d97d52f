import { processIdentity, processIdentityNow } from '../host/process-identity.js';

/**
 * Who wrote a record: pid and the process's start time in clock ticks since boot (field 22 of
 * /proc/PID/stat), so a pid the kernel has since reused does not pass for the writer.
 */
export function writerId(pid: number = process.pid): string {
  return `${pid}@${processIdentityNow(pid)?.start ?? 'unknown'}`;
}

/** Whether the process that wrote `writer` still runs. */
export async function writerAlive(writer: string): Promise<boolean> {
  const match = /^(\d+)@(\d+|unknown)$/.exec(writer);
  if (!match) return false;
  const now = await processIdentity(Number(match[1]));
  return now !== undefined && (match[2] === 'unknown' || now.start === match[2]);
}
