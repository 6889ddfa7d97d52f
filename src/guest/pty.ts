import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { IronClawError } from '../core/errors.js';
import type { Tty } from '../protocol/guest-api.js';
import type { WindowSize } from '../protocol/window-size.js';
import type { ExecProcess } from './exec-stubs.js';
import { quote } from './shell-quote.js';

/*
 * A command in a pseudo-terminal made in the box. Node has no pty API and the agent ships no
 * native module, so the terminal comes from util-linux's `script`, which every box that runs the
 * host's /usr (bwrap, gVisor) has: it opens /dev/ptmx, makes the slave the controlling terminal
 * of a new session, and copies bytes between its own stdio (the agent's pipes) and the master.
 * Ctrl-C and Ctrl-Z are then bytes the line discipline turns into signals for the foreground
 * job, as on any terminal.
 *
 * Inside the session a small sh sets the first window size, reports its pid and terminal name
 * on fd 3 (a pipe the agent reads), closes fd 3 and execs the command. A later resize is
 * `stty -F <that terminal>`, which is TIOCSWINSZ on it: the kernel then sends SIGWINCH to the
 * foreground job.
 */

/** util-linux's script: -q no banner, -e its exit status is the command's, no log file. */
const SCRIPT = '/usr/bin/script';
const STTY = '/usr/bin/stty';
/** What the session's sh reports on fd 3: its pid, a space, its terminal's path. */
const REPORT = /^(\d+) (\/dev\/pts\/\d+)\n/;

export interface PtyRequest {
  file: string;
  args: readonly string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  tty: Tty;
}

export interface PtyCommand {
  /** `script`: its stdin feeds the terminal, its stdout is what the terminal shows. */
  readonly child: ExecProcess;
  /** Follows the caller's window; the last size wins, the ones between may be skipped. */
  resize(size: WindowSize): void;
  /** SIGKILL to the command's session, which `script`'s own process group does not hold. */
  kill(): void;
}

/** Starts `request` in a new pseudo-terminal, or fails when the box cannot make one. */
export async function spawnInPty(request: PtyRequest): Promise<PtyCommand> {
  await assertPtyTools();
  const { tty } = request;
  const shell = request.env.SHELL;
  const lines = [
    `${STTY} rows ${tty.rows} cols ${tty.cols} 2>/dev/null`,
    'echo "$$ $(tty)" >&3',
    'exec 3>&-',
    // script runs this through $SHELL: the command gets the caller's SHELL back.
    shell === undefined ? 'unset SHELL' : `export ${quote(`SHELL=${shell}`)}`,
    `exec ${[request.file, ...request.args].map(quote).join(' ')}`,
  ];
  const env = {
    ...request.env,
    SHELL: '/bin/sh',
    ...(tty.term === undefined ? {} : { TERM: tty.term }),
  };
  const child = spawn(SCRIPT, ['-q', '-e', '-c', lines.join('\n'), '/dev/null'], {
    cwd: request.cwd,
    env,
    stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    detached: true,
  }) as unknown as ExecProcess;
  return new Session(child, child.stdio[3] as Readable);
}

class Session implements PtyCommand {
  readonly child: ExecProcess;
  #pid: number | undefined;
  #terminal: string | undefined;
  #wanted: WindowSize | undefined;
  #resizing = false;

  constructor(child: ExecProcess, report: Readable) {
    this.child = child;
    let text = '';
    report.on('error', () => undefined);
    report.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      const match = REPORT.exec(text);
      if (match === null && text.length < 64) return;
      report.destroy();
      if (!match) return;
      this.#pid = Number(match[1]);
      this.#terminal = match[2];
      this.#next();
    });
  }

  resize(size: WindowSize): void {
    this.#wanted = size;
    this.#next();
  }

  kill(): void {
    if (this.#pid === undefined) return;
    try {
      process.kill(-this.#pid, 'SIGKILL');
    } catch {
      // The session is already gone.
    }
  }

  /** One stty at a time, with the latest size: a drag of the window's corner sends dozens. */
  #next(): void {
    const size = this.#wanted;
    if (this.#resizing || size === undefined || this.#terminal === undefined) return;
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.#wanted = undefined;
    this.#resizing = true;
    const done = (): void => {
      this.#resizing = false;
      this.#next();
    };
    try {
      const stty = spawn(
        STTY,
        ['-F', this.#terminal, 'rows', String(size.rows), 'cols', String(size.cols)],
        { stdio: 'ignore' },
      );
      stty.once('error', done);
      stty.once('exit', done);
    } catch {
      done();
    }
  }
}

async function assertPtyTools(): Promise<void> {
  for (const tool of [SCRIPT, STTY]) {
    const usable = await access(tool, constants.X_OK).then(
      () => true,
      () => false,
    );
    if (!usable)
      throw new IronClawError(
        'POLICY_UNENFORCEABLE',
        `this sandbox cannot make a pseudo-terminal: it has no ${tool} (util-linux and coreutils); run the command without -t`,
      );
  }
}
