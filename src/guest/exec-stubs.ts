import { type ChildProcess, type ChildProcessByStdio, spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Readable, Writable } from 'node:stream';

/*
 * A process made ahead of time for the next exec. Node starts a process by fork() and exec(),
 * and copying node's address space is what costs: about 15 ms of a 20 ms spawn under gVisor's
 * ptrace platform, tens of milliseconds in an emulated VM, against a few for exec() alone. So
 * while the box is idle the agent starts a small shell (a "stub") with the stdio pipes an exec
 * needs, in its own session, waiting on fd 3. An exec writes it a script of a few lines (change
 * directory, set the variables that differ, `exec` the command) and the stub becomes the
 * command: same pid, session, pipes, rlimits and uid as a fresh spawn would have had.
 *
 * A stub is only made after the box has been idle for STUB_IDLE_MS, never while an exec runs,
 * so back-to-back execs pay nothing for it (they spawn as before); an agent with think time
 * between commands, a warm pool's box and a VM template's clones find one ready.
 *
 * Requests the shell would run differently from a direct spawn take the direct spawn: a command
 * that is not an executable file (so "not found" and "cannot execute" keep their wording and
 * status), a name starting with `-`, a variable name the shell cannot export, a NUL anywhere
 * (spawn refuses it; a script would drop it), or a script over MAX_SCRIPT_BYTES: dash reads a
 * script from a pipe one byte per read() call (about 50 us each under gVisor), so a long one
 * would cost more than the fork it saves.
 */

/** Reads the script line by line from fd 3 until the agent closes it, closes fd 3, runs it. */
const READER =
  'script=; while IFS= read -r line <&3; do script="$script$line\n"; done; exec 3<&-; eval "$script"';

/** How long the box must be idle before a stub is made. */
const STUB_IDLE_MS = 50;
/** The longest script a stub is given (see above); longer requests spawn directly. */
const MAX_SCRIPT_BYTES = 512;
/** What `export` accepts; other names cannot pass through a shell. */
const SHELL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface StubRequest {
  file: string;
  args: readonly string[];
  cwd: string;
  /** The command's whole environment. */
  env: NodeJS.ProcessEnv;
}

/** A process with the stdio pipes an exec reads and writes. */
export type ExecProcess = ChildProcessByStdio<Writable, Readable, Readable>;

export class ExecStubs {
  /** Where stubs start; a request elsewhere changes directory first. */
  readonly #home: string;
  #ready: ChildProcess | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running = 0;

  constructor(home: string) {
    this.#home = home;
    this.#schedule();
  }

  /** Whether a stub is made and waiting for the next exec. */
  get ready(): boolean {
    return this.#ready !== undefined;
  }

  /** Marks an exec as running (no stub is made meanwhile); call the result when it is over. */
  begin(): () => void {
    this.#running++;
    clearTimeout(this.#timer);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.#running--;
      this.#schedule();
    };
  }

  /**
   * The ready stub, now running `request`; undefined when there is none or the request must be
   * spawned directly. The caller listens to the returned process at once, as to a fresh spawn.
   */
  async take(request: StubRequest): Promise<ExecProcess | undefined> {
    if (!this.#ready) return undefined;
    const script = await scriptFor(request, this.#home);
    const stub = this.#ready;
    // Checked after the await: another exec may have taken it, or it may have died meanwhile.
    if (script === undefined || !stub || stub.exitCode !== null || stub.signalCode !== null)
      return undefined;
    this.#ready = undefined;
    (stub.stdio[3] as Writable).end(script);
    return stub as ExecProcess;
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    if (this.#running > 0 || this.#ready) return;
    this.#timer = setTimeout(() => this.#make(), STUB_IDLE_MS);
    this.#timer.unref();
  }

  #make(): void {
    if (this.#running > 0 || this.#ready) return;
    let stub: ChildProcess;
    try {
      stub = spawn('/bin/sh', ['-c', READER], {
        cwd: this.#home,
        env: process.env,
        stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
        detached: true,
      });
    } catch {
      return; // Out of processes, say: the next exec spawns directly, and tries again after.
    }
    // A stub that cannot start or dies waiting is dropped; the next exec's end makes another.
    const drop = (): void => {
      if (this.#ready === stub) this.#ready = undefined;
    };
    stub.once('error', drop);
    stub.once('exit', drop);
    stub.stdio[3]?.on('error', () => undefined);
    this.#ready = stub;
  }
}

/** The stub's script for `request`, or undefined when it must be spawned directly. */
async function scriptFor(request: StubRequest, home: string): Promise<string | undefined> {
  const { file, args, cwd, env } = request;
  if (file.startsWith('-') || !Object.keys(env).every((name) => SHELL_NAME.test(name)))
    return undefined;
  // A NUL cannot pass through a script (the shell would drop it); spawn refuses such a request.
  const words = [file, ...args, cwd, ...Object.values(env)];
  if (words.some((word) => word?.includes('\0'))) return undefined;
  const lines = [];
  // The shell sets PWD (and cd sets OLDPWD) and passes them on; a direct spawn passes env's.
  const moved = cwd !== home;
  if (moved) lines.push(`cd -P -- ${quote(cwd)} || exit 126`, 'unset PWD OLDPWD');
  else if (env.PWD === undefined) lines.push('unset PWD');
  for (const [name, value = ''] of Object.entries(env)) {
    const pwd = name === 'PWD' || name === 'OLDPWD';
    if (pwd ? moved || value !== home : process.env[name] !== value)
      lines.push(`export ${quote(`${name}=${value}`)}`);
  }
  lines.push(`exec ${[file, ...args].map(quote).join(' ')}`);
  const script = `${lines.join('\n')}\n`;
  if (Buffer.byteLength(script) > MAX_SCRIPT_BYTES) return undefined;
  return (await commands.isExecutable(file, env.PATH ?? '', cwd)) ? script : undefined;
}

/**
 * Whether a command names an executable regular file, looked up in PATH as exec would (the
 * shell's exec then looks it up again itself). A yes found in a directory the box cannot write
 * (a box's root is read-only, so every usual PATH directory) cannot turn into a no, and is kept:
 * a stat is a round trip to the gofer under gVisor, and a few of them cost as much as the stub
 * saves. Another file appearing earlier in PATH changes which one runs, not whether one does.
 */
class CommandLookup {
  readonly #known = new Set<string>();

  async isExecutable(file: string, path: string, cwd: string): Promise<boolean> {
    const key = `${cwd}\0${path}\0${file}`;
    if (this.#known.has(key)) return true;
    const dirs = (
      file.includes('/') ? [posix.dirname(posix.resolve(cwd, file))] : path.split(':')
    ).map((entry) => posix.resolve(cwd, entry));
    for (const dir of dirs) {
      const candidate = posix.join(dir, posix.basename(file));
      const info = await stat(candidate).catch(() => undefined);
      if (!info?.isFile() || !(await allowed(candidate, constants.X_OK))) continue;
      if (!(await allowed(dir, constants.W_OK))) this.#known.add(key);
      return true;
    }
    return false;
  }
}

const commands = new CommandLookup();

function allowed(path: string, mode: number): Promise<boolean> {
  return access(path, mode).then(
    () => true,
    () => false,
  );
}

/** One shell word, single-quoted: nothing in it is expanded. */
function quote(word: string): string {
  return `'${word.replaceAll("'", "'\\''")}'`;
}
