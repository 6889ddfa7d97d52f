import { type ChildProcess, type ChildProcessByStdio, spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, realpath, stat } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { quote } from './shell-quote.js';

/*
 * A process made ahead of time for the next exec. Node starts a process by fork() and exec(),
 * and copying node's address space is what costs: about 15 ms of a 20 ms spawn under gVisor's
 * ptrace platform, tens of milliseconds in an emulated VM, against a few for exec() alone. So
 * while the box is idle the agent starts a small shell (a "stub": dash, whose start-up we know;
 * a box without /bin/dash gets none) with the stdio pipes an exec needs, in its own session,
 * waiting on fd 3. An exec writes it a script of a few lines (change
 * directory, set the variables that differ, `exec` the command) and the stub becomes the
 * command: same pid, session, pipes, rlimits and uid as a fresh spawn would have had.
 *
 * A stub is only made after the box has been idle for STUB_IDLE_MS, never while an exec runs,
 * so back-to-back execs pay nothing for it (they spawn as before); an agent with think time
 * between commands, a warm pool's box and a VM template's clones find one ready.
 *
 * Requests the shell would run differently from a direct spawn take the direct spawn: a command
 * that is not an executable file, or a working directory the box cannot enter (so failures keep
 * their wording and status), a name starting with `-`, a variable name the shell cannot export
 * or one dash sets itself (IFS, OPTIND, PPID, ...), or a script over MAX_SCRIPT_BYTES: dash
 * reads a script from a pipe one byte per read() call (about 50 us each under gVisor), so a long
 * one would cost more than the fork it saves.
 *
 * A stub starts with the environment every command gets before its own variables (the agent's,
 * plus the egress proxy's once the box has a bridge: a dozen long variables), so its script
 * names only what the request changes. A stub made before that environment changed is replaced,
 * not used with a script that would carry the difference.
 */

/** Reads the script line by line from fd 3 until the agent closes it, closes fd 3, runs it. */
const READER =
  'script=; while IFS= read -r line <&3; do script="$script$line\n"; done; exec 3<&-; eval "$script"';

/** The stub's shell. */
const STUB_SHELL = '/bin/dash';
/** The stub's argv[0], which tells it apart from the box's own processes. */
export const STUB_ARGV0 = 'ironclaw-exec-stub';
/** Variables dash sets or resets at start-up; a request with one of them spawns directly. */
const DASH_OWN = new Set(['IFS', 'OPTIND', 'PPID', 'PS1', 'PS2', 'PS4', 'LINENO', 'SHLVL', '_']);
/** The most command lookups kept (see CommandLookup). */
const MAX_KNOWN_COMMANDS = 1024;

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

/** A stub and the environment it was started with. */
interface Stub {
  process: ChildProcess;
  env: NodeJS.ProcessEnv;
}

export class ExecStubs {
  /** Where stubs start; a request elsewhere changes directory first. */
  readonly #home: string;
  /** The environment every command starts from (see the comment at the top). */
  readonly #baseEnv: () => NodeJS.ProcessEnv;
  /** False when the box has no STUB_SHELL: then every exec spawns directly. */
  readonly #usable: Promise<boolean>;
  #disabled = false;
  #ready: Stub | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running = 0;

  constructor(home: string, baseEnv: () => NodeJS.ProcessEnv = () => process.env) {
    this.#home = home;
    this.#baseEnv = baseEnv;
    this.#usable = allowed(STUB_SHELL, constants.X_OK).then((usable) => {
      this.#disabled = !usable;
      return usable;
    });
    this.#schedule();
  }

  /** Whether a stub is made and waiting for the next exec; undefined in a box without stubs. */
  get ready(): boolean | undefined {
    return this.#disabled ? undefined : this.#ready !== undefined;
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
   * Call between begin() and its end: no other stub is made meanwhile.
   */
  async take(request: StubRequest): Promise<ExecProcess | undefined> {
    const stub = this.#ready;
    if (!stub) return undefined;
    this.#ready = undefined; // claimed: a concurrent exec spawns directly
    if (!sameEnv(stub.env, this.#baseEnv())) {
      stub.process.kill('SIGKILL'); // made before the environment changed; the next one is not
      return undefined;
    }
    const script = await scriptFor(request, this.#home, stub.env).catch(() => undefined);
    const alive = stub.process.exitCode === null && stub.process.signalCode === null;
    if (script === undefined || !alive) {
      if (alive) this.#ready = stub; // for the next request
      return undefined;
    }
    (stub.process.stdio[3] as Writable).end(script);
    return stub.process as ExecProcess;
  }

  /**
   * Replaces a waiting stub that was started with another environment than commands now get
   * (the egress bridge has just added its variables), so that the next exec finds one that fits.
   */
  refresh(): void {
    const stub = this.#ready;
    if (!stub || sameEnv(stub.env, this.#baseEnv())) return;
    this.#ready = undefined;
    stub.process.kill('SIGKILL');
    this.#schedule();
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    if (this.#running > 0 || this.#ready) return;
    this.#timer = setTimeout(() => void this.#make(), STUB_IDLE_MS);
    this.#timer.unref();
  }

  async #make(): Promise<void> {
    if (!(await this.#usable) || this.#running > 0 || this.#ready) return;
    const env = { ...this.#baseEnv() };
    let stub: ChildProcess;
    try {
      stub = spawn(STUB_SHELL, ['-c', READER], {
        argv0: STUB_ARGV0,
        cwd: this.#home,
        env,
        stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
        detached: true,
      });
    } catch {
      return; // Out of processes, say: the next exec spawns directly, and tries again after.
    }
    // A stub that cannot start or dies waiting is dropped; the next exec's end makes another.
    const drop = (): void => {
      if (this.#ready?.process === stub) this.#ready = undefined;
    };
    stub.once('error', drop);
    stub.once('exit', drop);
    stub.stdio[3]?.on('error', () => undefined);
    this.#ready = { process: stub, env };
  }
}

/**
 * The stub's script for `request`, or undefined when it must be spawned directly. No word holds
 * a NUL (which a script would drop): the guest API's schema refuses those.
 */
async function scriptFor(
  request: StubRequest,
  home: string,
  stubEnv: NodeJS.ProcessEnv,
): Promise<string | undefined> {
  const { file, args, env } = request;
  const names = Object.keys(env);
  if (file.startsWith('-') || names.some((name) => !SHELL_NAME.test(name) || DASH_OWN.has(name)))
    return undefined;
  // What the stub has and the request does not: unset, or a direct spawn for a name no shell takes.
  const dropped = Object.keys(stubEnv).filter((name) => env[name] === undefined);
  if (dropped.some((name) => !SHELL_NAME.test(name) || DASH_OWN.has(name))) return undefined;
  // As chdir() sees it: relative to the agent's directory, `..` taken physically, no CDPATH.
  const cwd = request.cwd.startsWith('/') ? request.cwd : `${process.cwd()}/${request.cwd}`;
  const moved = cwd !== home;
  const lines = moved ? [`cd -P -- ${quote(cwd)} || exit 126`] : [];
  // dash exports PWD, and OLDPWD after a cd: the request's values, or none, as a spawn passes.
  const pwd = moved ? ['PWD', 'OLDPWD'] : ['PWD'];
  const unset = [...new Set([...pwd.filter((name) => env[name] === undefined), ...dropped])];
  if (unset.length > 0) lines.push(`unset ${unset.join(' ')}`);
  for (const [name, value = ''] of Object.entries(env)) {
    if (pwd.includes(name) || stubEnv[name] !== value)
      lines.push(`export ${quote(`${name}=${value}`)}`);
  }
  lines.push(`exec ${[file, ...args].map(quote).join(' ')}`);
  const script = `${lines.join('\n')}\n`;
  if (Buffer.byteLength(script) > MAX_SCRIPT_BYTES) return undefined;
  if (moved && !(await allowed(cwd, constants.X_OK))) return undefined;
  return (await commands.isExecutable(file, env.PATH ?? '', cwd)) ? script : undefined;
}

/**
 * Whether a command names an executable regular file, looked up in PATH as exec would (the
 * shell's exec then looks it up again itself); paths go to the kernel as written, so `..` and
 * links resolve as they will for exec. A yes found in an absolute PATH directory that nothing in
 * the box can change (neither it nor any directory on the way to it, nor to where its links
 * lead, is writable: a box's root is read-only) cannot turn into a no, and is kept: a stat is a
 * round trip to the gofer under gVisor, and a few of them cost as much as the stub saves.
 * Another file appearing earlier in PATH changes which one runs, not whether one does.
 */
class CommandLookup {
  readonly #known = new Set<string>();

  async isExecutable(file: string, path: string, cwd: string): Promise<boolean> {
    const key = `${path}\0${file}`;
    if (this.#known.has(key)) return true;
    const under = (dir: string): string =>
      dir === '' ? cwd : dir.startsWith('/') ? dir : `${cwd}/${dir}`;
    const dirs = file.includes('/') ? [undefined] : path.split(':');
    for (const dir of dirs) {
      const candidate =
        dir === undefined
          ? file.startsWith('/')
            ? file
            : `${cwd}/${file}`
          : `${under(dir)}/${file}`;
      const info = await stat(candidate).catch(() => undefined);
      if (!info?.isFile() || !(await allowed(candidate, constants.X_OK))) continue;
      if (dir?.startsWith('/') && (await unchangeable(dir))) {
        if (this.#known.size >= MAX_KNOWN_COMMANDS) this.#known.clear();
        this.#known.add(key);
      }
      return true;
    }
    return false;
  }
}

/** Whether no directory on the way to `dir`, or to where it leads, is writable by the box. */
async function unchangeable(dir: string): Promise<boolean> {
  const real = await realpath(dir).catch(() => undefined);
  if (real === undefined) return false;
  const prefixes = (path: string): string[] =>
    path.split('/').map((_, index, parts) => parts.slice(0, index + 1).join('/') || '/');
  for (const prefix of new Set([...prefixes(dir), ...prefixes(real)]))
    if (await allowed(prefix, constants.W_OK)) return false;
  return true;
}

const commands = new CommandLookup();

function sameEnv(a: NodeJS.ProcessEnv, b: NodeJS.ProcessEnv): boolean {
  const names = Object.keys(a);
  return names.length === Object.keys(b).length && names.every((name) => a[name] === b[name]);
}

function allowed(path: string, mode: number): Promise<boolean> {
  return access(path, mode).then(
    () => true,
    () => false,
  );
}
