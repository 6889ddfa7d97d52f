import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';

/**
 * An owner file's text ("<pid> <start>\n") naming a process that has died: a sleep, started and
 * killed, its start time read from /proc while it lived.
 */
export async function deadOwner(): Promise<string> {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const stat = await readFile(`/proc/${child.pid}/stat`, 'utf8');
  const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  child.kill('SIGKILL');
  await exited;
  return `${child.pid} ${start}\n`;
}
