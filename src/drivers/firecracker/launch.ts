import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { IronClawError } from '../../core/errors.js';
import { BoundedTail } from '../../host/bounded-tail.js';
import { guardBoxStreams } from '../../host/box-streams.js';
import { keepOutput, vmmKiller } from '../../host/vmm-output.js';

export type Exit = { code: number | null; signal: NodeJS.Signals | null };

/** A started, jailed Firecracker: its holder on the host, its pid, its exit and its output. */
export interface JailedFirecracker {
  /** `unshare`, which waits for the jail's pid 1 (Firecracker) and exits with it. */
  readonly child: ChildProcess;
  /** Firecracker's host pid. */
  readonly pid: number;
  /** Settles when Firecracker has exited and its output is read to the end. */
  readonly exited: Promise<Exit>;
  /** The tails of the jailer's and Firecracker's stderr and of the guest console. */
  tail(): string;
  /** SIGKILL to Firecracker and its holder; resolves once they have exited. Idempotent. */
  kill(): Promise<void>;
}

/**
 * Runs `jailer <args>` in a new pid namespace: `unshare --pid --fork --kill-child`, so the
 * jailer, which execs Firecracker in place, makes Firecracker that namespace's pid 1 (the
 * isolation the jailer's own --new-pid-ns gives), while `unshare` stays our child and exits
 * with it: the box's ChildProcess lives exactly as long as the VMM. (With --new-pid-ns the
 * jailer itself exits at once, so nothing of ours would track the VMM.) Firecracker's stdout
 * is the guest's serial console, kept in `consoleLog` and a tail; stderr has the jailer's and
 * Firecracker's own complaints. Resolves once Firecracker's pid is known; rejects at once,
 * quoting their output, if the jail exits first.
 */
export async function launchJailed(
  jailer: string,
  args: readonly string[],
  options: { consoleLog: string; signal: AbortSignal },
): Promise<JailedFirecracker> {
  const stderr = new BoundedTail(8 * 1024);
  const guestConsole = new BoundedTail(8 * 1024);
  // Detached: its own process group (Firecracker stays in it: no --daemonize), killed whole.
  const child = spawn('unshare', ['--pid', '--fork', '--kill-child', '--', jailer, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    env: {},
  });
  guardBoxStreams(child);
  const logs = [
    keepOutput(child.stdout, guestConsole, options.consoleLog),
    keepOutput(child.stderr, stderr),
  ];
  const exited = new Promise<Exit>((resolve) => {
    child.once('close', (code, signal) => {
      for (const log of logs) log?.end();
      resolve({ code, signal });
    });
  });
  const spawnFailed = new Promise<Error>((resolve) => child.once('error', resolve));
  const tail = (): string =>
    [
      `jailer and Firecracker stderr: ${stderr.text() || '(empty)'}`,
      `guest console: ${guestConsole.text() || '(empty)'}`,
    ].join('\n');
  let pid: number | undefined;
  const kill = vmmKiller(child, () => Promise.resolve(pid), exited);
  const failed = Promise.race([
    exited.then(
      (outcome) =>
        `the jail exited during start-up (${outcome.signal ?? `exit code ${outcome.code}`})`,
    ),
    spawnFailed.then((error) => `unshare could not be started: ${error.message}`),
  ]);
  try {
    pid = await Promise.race([
      firstChild(child, options.signal),
      failed.then((reason) => Promise.reject(new IronClawError('SANDBOX_START_FAILED', reason))),
    ]);
    return { child, pid, exited, tail, kill };
  } catch (error) {
    await kill();
    throw error;
  }
}

/** The pid `unshare` forked (the jailer, then Firecracker: it execs in place). */
async function firstChild(child: ChildProcess, signal: AbortSignal): Promise<number> {
  for (;;) {
    signal.throwIfAborted();
    if (child.pid !== undefined) {
      const file = `/proc/${child.pid}/task/${child.pid}/children`;
      const text = await readFile(file, 'utf8').catch(() => '');
      const found = Number(text.trim().split(/\s+/)[0]);
      if (Number.isInteger(found) && found > 0) return found;
    }
    await delay(5, undefined, { signal });
  }
}
