import { type ChildProcess, execFile, spawn, type StdioOptions } from 'node:child_process';
import { access, constants, open, readdir, readFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { IronClawError } from '../../core/errors.js';
import { BoundedTail } from '../../host/bounded-tail.js';
import { guardBoxStreams } from '../../host/box-streams.js';
import { type BoxRuntimeDir } from './runtime-dir.js';

/** gVisor platforms: how the sentry intercepts the box's system calls. */
export type GvisorPlatform = 'kvm' | 'systrap' | 'ptrace';

export interface RunscOptions {
  runsc: string;
  runtime: BoxRuntimeDir;
  platform: GvisorPlatform;
  /** runsc's stdin, stdout and stderr: the only descriptors the box gets. */
  stdio: StdioOptions;
  /**
   * cgroup.procs files that runsc is moved into before it starts, so every process it makes
   * (gofer, sentry, the platform's stub processes) is charged to the box's cgroup from birth.
   */
  cgroupProcs: readonly string[];
  /**
   * As root: the host uid runsc runs as, rootless, so that its gofer, sentry and the platform's
   * stub processes are all that uid's (see BOX_UID_SCRIPT). Absent: runsc runs as this process,
   * and as root drops the sentry to 65534 itself.
   */
  boxUid?: number | undefined;
}

export type Exit = { code: number | null; signal: NodeJS.Signals | null };

/** A runsc process running one sandbox, and how to end it. */
export interface RunscBox {
  readonly child: ChildProcess;
  /** Resolves once runsc has exited and its log's tail is in `tail`. */
  readonly exited: Promise<Exit>;
  /** runsc's stderr (for the agent payload) and, after it exits, its log's notable lines. */
  readonly tail: BoundedTail;
  /** Host pid of the sandbox process (the sentry), from runsc's pid file. */
  sentryPid(signal: AbortSignal): Promise<number>;
  /** Kills the sandbox and everything it started, and waits for runsc to exit. Idempotent. */
  destroy(): Promise<void>;
}

/**
 * Run by sh under `setpriv --pdeathsig KILL`: gives up if its parent (this process, pid $1) died
 * before the death signal was armed, moves itself into each cgroup named before "--", then
 * becomes the command after it. runsc keeps the death signal across the exec, and its gofer and
 * sandbox die with runsc (it starts them attached), so a box never outlives its owner, even one
 * killed by SIGKILL; the read is a builtin, so the check costs no process.
 */
const LAUNCH_SCRIPT = [
  'read -r _ _ _ ppid _ < /proc/$$/stat; [ "$ppid" = "$1" ] || exit 125; shift',
  'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"',
].join('\n');

/**
 * As root, runsc is started as the box's own host uid, in rootless mode, as an unprivileged
 * caller's runsc is: it makes a user namespace where it is root (mapped to that uid and nothing
 * else) and runs the sentry as nobody in a nested one mapped to the same uid, so every process
 * of the sandbox counts against that uid's RLIMIT_NPROC alone. (Run as root, runsc maps the
 * sentry to host 65534 whatever it is told: OCI process.user only names the box's user inside
 * gVisor.) The gofer, which root-mode runsc runs as host root, is then that uid as well.
 * setpriv changes the ids and arms the parent-death signal again (a change of ids clears it);
 * the parent is checked once more after that, as LAUNCH_SCRIPT does. $1 is the parent's pid.
 */
const BOX_UID_SCRIPT =
  'read -r _ _ _ ppid _ < /proc/$$/stat; [ "$ppid" = "$1" ] || exit 125; shift; exec "$@"';

/** How long runsc gets to exit after its sandbox was killed, before it is killed as well. */
const EXIT_GRACE_MS = 3000;

/** Starts `runsc run` for the bundle in `runtime`. It must be destroyed by the caller. */
export async function startRunsc(options: RunscOptions): Promise<RunscBox> {
  const { runtime } = options;
  const asRoot = process.getuid?.() === 0;
  const boxUid = asRoot ? options.boxUid : undefined;
  const runscArgs = [
    '--root',
    runtime.runscRoot,
    '--network=none',
    `--platform=${options.platform}`,
    ...(await withoutDirectfs(options.runsc)),
    // The box's cgroup is IronClaw's (see gvisor-box.ts); runsc must not make its own.
    '--ignore-cgroups',
    `--debug-log=${runtime.log}`,
    ...(asRoot && boxUid === undefined ? [] : ['--rootless']),
    'run',
    '--bundle',
    runtime.bundle,
    '--pid-file',
    runtime.pidFile,
    runtime.containerId,
  ];
  const setpriv = await setprivBinary();
  const asBoxUid =
    boxUid === undefined
      ? []
      : [
          setpriv,
          `--reuid=${boxUid}`,
          `--regid=${boxUid}`,
          '--clear-groups',
          ...['--pdeathsig', 'KILL', '--', '/bin/sh', '-c', BOX_UID_SCRIPT, 'as-box-uid'],
          String(process.pid),
        ];
  const args = [
    '--pdeathsig',
    'KILL',
    '--',
    '/bin/sh',
    '-c',
    LAUNCH_SCRIPT,
    'launch',
    String(process.pid),
    ...options.cgroupProcs,
    '--',
    ...asBoxUid,
    options.runsc,
    ...runscArgs,
  ];
  const child = spawn(setpriv, args, {
    stdio: options.stdio,
    detached: true,
    env: {},
  });
  guardBoxStreams(child);
  const tail = new BoundedTail();
  const exited = new Promise<Exit>((resolve) => {
    let done = false;
    const finish = (exit: Exit): void => {
      if (done) return;
      done = true;
      void runscLogTail(runtime.log)
        .catch(() => '')
        .then((text) => {
          if (text) tail.push(Buffer.from(`${tail.text() ? '\n' : ''}runsc log: ${text}\n`));
          resolve(exit);
        });
    };
    child.once('exit', (code, signal) => finish({ code, signal }));
    child.once('error', () => finish({ code: null, signal: null })); // no exit event follows
  });
  const spawnError = new Promise<never>((_, reject) => {
    child.once('error', (error) =>
      reject(
        new IronClawError(
          'DRIVER_UNAVAILABLE',
          `cannot run ${options.runsc}: ${error.message}; install gVisor (apt-get install runsc) and run \`ironclaw doctor\``,
          { cause: error },
        ),
      ),
    );
  });
  spawnError.catch(() => undefined);
  let pid: Promise<number> | undefined;
  let knownSentry: number | undefined;
  let destroying: Promise<void> | undefined;
  return {
    child,
    exited,
    tail,
    sentryPid: (signal) => {
      pid ??= Promise.race([
        pollPidFile(runtime.pidFile, signal).then((found) => (knownSentry = found)),
        spawnError,
        exited.then((exit) => {
          throw new IronClawError(
            'SANDBOX_START_FAILED',
            `runsc exited during start-up (${exit.signal ?? `exit code ${exit.code}`}): ${tail.text().trim() || 'it printed nothing'}`,
          );
        }),
      ]);
      return pid;
    },
    destroy: () => {
      destroying ??= (async () => {
        // While runsc runs, the sentry is its child (or its unreaped zombie), so the pid is
        // still the sentry's. Without a pid the sandbox dies with runsc (boot --attached).
        const sentry = knownSentry ?? (await readPidFile(runtime.pidFile));
        if (isRunning(child)) {
          if (sentry === undefined) signalGroup(child.pid);
          else await killTree(sentry);
          const deadline = setTimeout(() => signalGroup(child.pid), EXIT_GRACE_MS);
          await exited;
          clearTimeout(deadline);
        }
        await exited;
      })();
      return destroying;
    },
  };
}

const directfsFlags = new Map<string, Promise<string[]>>();

/**
 * runsc 2023 and later default to directfs, where the sentry opens the box's files itself and so
 * keeps root and every capability in a user namespace mapping all host uids (measured with
 * 0.0~20240729: Uid 0, CapEff 000001ffffffffff). With --directfs=false it runs without
 * capabilities on the host, as host uid 65534 (root mode) or as the uid runsc runs as
 * (rootless), as older runsc always did, and the gofer opens files for it.
 * Older runsc has no such flag and refuses unknown ones, so runsc is asked once which it is.
 */
function withoutDirectfs(runsc: string): Promise<string[]> {
  let flags = directfsFlags.get(runsc);
  if (!flags) {
    flags = new Promise((resolve) =>
      execFile(runsc, ['flags'], { timeout: 10_000 }, (_, stdout, stderr) =>
        resolve(/^\s*-directfs$/m.test(`${stdout}${stderr}`) ? ['--directfs=false'] : []),
      ),
    );
    directfsFlags.set(runsc, flags);
  }
  return flags;
}

let setpriv: Promise<string> | undefined;

/** util-linux's setpriv, which arms the parent-death signal that runsc then keeps. */
function setprivBinary(): Promise<string> {
  setpriv ??= (async () => {
    for (const path of ['/usr/bin/setpriv', '/bin/setpriv']) {
      if (
        await access(path, constants.X_OK).then(
          () => true,
          () => false,
        )
      )
        return path;
    }
    throw new IronClawError(
      'DRIVER_UNAVAILABLE',
      'gVisor boxes need setpriv (util-linux) so that they die with their owner: install util-linux',
    );
  })();
  return setpriv;
}

/** Waits for runsc's pid file (written once the sandbox exists), polling: it is a few ms. */
async function pollPidFile(path: string, signal: AbortSignal): Promise<number> {
  for (let wait = 2; ; wait = Math.min(wait * 2, 20)) {
    const pid = await readPidFile(path);
    if (pid !== undefined) return pid;
    await delay(wait, undefined, { signal });
  }
}

async function readPidFile(path: string): Promise<number | undefined> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return /^\d+\s*$/.test(text) ? Number(text) : undefined;
}

/**
 * Kills the sentry and its descendants (the ptrace platform's stub processes, which outlive a
 * killed sentry for a while otherwise). The sentry is stopped first so that it can neither make
 * nor reap processes while its descendants are listed, and its descendants die before it, while
 * their pids still belong to them.
 */
async function killTree(root: number): Promise<void> {
  signalPid(root, 'SIGSTOP');
  const pids = await descendants(root);
  for (const pid of pids.reverse()) signalPid(pid, 'SIGKILL');
  signalPid(root, 'SIGKILL');
}

async function descendants(root: number): Promise<number[]> {
  const found: number[] = [];
  const queue = [root];
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    const tasks = await readdir(`/proc/${pid}/task`).catch(() => []);
    const lists = await Promise.all(
      tasks.map((task) => readFile(`/proc/${pid}/task/${task}/children`, 'utf8').catch(() => '')),
    );
    for (const child of lists.join(' ').split(' ').filter(Boolean).map(Number)) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

function signalPid(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

/** runsc and its gofer share runsc's process group (it was started detached). */
function signalGroup(pid: number | undefined): void {
  if (pid !== undefined) signalPid(-pid, 'SIGKILL');
}

/** Warnings runsc 20221219 logs for every box on this kind of host: never the cause. */
const ROUTINE_WARNINGS = [
  'ignoring unknown mount option', // it does apply size=, mode=, uid=, gid= to tmpfs
  'Not setting product_name',
  'Host limit is lower than recommended',
];

/** How much of the end of runsc's log is read when quoting it. */
const READ_BYTES = 64 * 1024;

/**
 * The lines of runsc's log worth quoting in an error: glog warnings, errors and fatals ("W1123
 * 02:42:48.584322 15024 util.go:64] ...") and non-glog lines (Go runtime panics), not routine
 * ones. When nothing else is left, the last info lines are quoted instead.
 */
export function importantLogLines(text: string, maxLines = 12): string[] {
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  const important = lines.filter(
    (line) => !/^[ID]\d{4} /.test(line) && !ROUTINE_WARNINGS.some((text) => line.includes(text)),
  );
  return (important.length > 0 ? important : lines).slice(-maxLines).map(shorten);
}

/** Reads the end of the log at `path` and picks the lines to quote; '' if there is no log. */
export async function runscLogTail(path: string, maxLines = 12): Promise<string> {
  const handle = await open(path, 'r').catch(() => undefined);
  if (!handle) return '';
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, READ_BYTES);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    // The first line may be cut in the middle: drop it unless the whole log was read.
    const text = buffer.toString('utf8');
    const whole = size <= READ_BYTES ? text : text.slice(text.indexOf('\n') + 1);
    return importantLogLines(whole, maxLines).join('\n');
  } finally {
    await handle.close();
  }
}

function shorten(line: string): string {
  return line.length > 500 ? `${line.slice(0, 500)}…` : line;
}
