import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { IronClawError } from '../core/errors.js';
import { TIMED_OUT_STATUS } from '../core/exit-status.js';
import { WORKSPACE } from '../core/sandbox-path.js';
import type { ExecParams, ExecResult } from '../protocol/guest-api.js';
import type { RequestContext } from '../protocol/rpc-server.js';
import type { ExecProcess, ExecStubs } from './exec-stubs.js';
import { DEFAULT_OUTPUT_CAP_BYTES, OutputCap } from '../core/output-cap.js';
import { OomWatch } from './oom-watch.js';
import { offerToOomKiller } from './oom-victim.js';
import { type PtyCommand, spawnInPty } from './pty.js';
import { bridgeEnv } from './net-bridge.js';
import { throughLoader } from '../protocol/guest-seccomp.js';
import { guestFilterSha256, nativeLoader } from './seccomp.js';

/**
 * After the process exits, how long the pipes may stay open with nothing coming before a
 * background descendant holding them is no longer waited for.
 */
const DRAIN_AFTER_EXIT_MS = 100;

let oomWatch: OomWatch | undefined;

/**
 * Runs one command in its own process group, streaming stdout and stderr as events. A timeout
 * or a cancel kills the whole group, so the command's descendants go with it. The process is a
 * stub made ahead of time when one is ready (exec-stubs.ts), a fresh spawn otherwise.
 */
export async function execCommand(
  params: ExecParams,
  context: RequestContext,
  stubs?: ExecStubs,
): Promise<ExecResult> {
  const ended = stubs?.begin();
  try {
    return await runCommand(params, context, stubs);
  } finally {
    ended?.();
  }
}

async function runCommand(
  params: ExecParams,
  context: RequestContext,
  stubs: ExecStubs | undefined,
): Promise<ExecResult> {
  const started = performance.now();
  oomWatch ??= new OomWatch();
  const cwd = params.cwd ?? WORKSPACE;
  await assertDirectory(cwd);
  const [file = '/bin/sh', ...args] = params.argv ?? ['/bin/sh', '-c', params.shell ?? ''];
  const asked = { file, args, env: { ...process.env, ...bridgeEnv(), ...params.env } };
  // In a VM guest with the sandbox filter, every way of starting runs the loader, which execs
  // the command filtered (guest/seccomp.ts): the terminal's `script` and a stub included.
  const filtered = guestFilterSha256 !== undefined;
  const run = filtered ? throughLoader(file, args, asked.env, { native: nativeLoader }) : asked;
  const cap = new OutputCap(params.maxOutputBytes ?? DEFAULT_OUTPUT_CAP_BYTES);
  let child: ExecProcess;
  let pty: PtyCommand | undefined;
  try {
    // A terminal comes from `script` (pty.ts), never from a stub, whose stdio is pipes.
    pty = params.tty ? await spawnInPty({ ...run, cwd, tty: params.tty }) : undefined;
    // A stub was offered to the OOM killer when it was made; a fresh process is offered now,
    // before it has grown (oom-victim.ts; the VM guest's loader does it itself before its exec).
    const stub = pty ? undefined : await stubs?.take({ ...run, cwd });
    child =
      pty?.child ??
      stub ??
      spawn(run.file, run.args, {
        cwd,
        env: run.env,
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
      });
    // Not awaited: a command can exit meanwhile, and its 'exit' must find the listener below.
    if (child !== stub) void offerToOomKiller(child.pid);
  } catch (error) {
    if (error instanceof IronClawError) throw error; // no terminal in this box
    // spawn throws at once for some failures (ENOTDIR, ENAMETOOLONG, E2BIG, ...).
    return notStarted(error as NodeJS.ErrnoException, file, filtered, context, started, cap);
  }
  const terminal = pty;
  if (terminal) context.onResize((size) => terminal.resize(size));
  let timedOut = false;

  const killGroup = (): void => {
    pty?.kill();
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // The group is already gone.
    }
  };
  const timer =
    params.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          killGroup();
        }, params.timeoutMs);
  context.signal.addEventListener('abort', killGroup, { once: true });

  for (const name of ['stdout', 'stderr'] as const) {
    const stream = child[name];
    stream.on('data', (chunk: Buffer) => {
      const kept = cap.take(chunk);
      if (kept.length > 0 && !context.emit(name, { data: kept.toString('base64') })) {
        // Backpressure: stop reading this process until the host has caught up.
        stream.pause();
        void context.drained().then(() => stream.resume());
      }
      const marker = cap.takeMarker();
      if (marker) context.emit(name, { data: Buffer.from(marker).toString('base64') });
    });
  }

  const stdin = child.stdin;
  stdin.on('error', () => undefined); // EPIPE when the command does not read its input.
  if (params.stdin !== undefined) stdin.write(Buffer.from(params.stdin, 'base64'));
  if (params.stdinOpen) {
    context.onInput((data, eof) => {
      if (data) stdin.write(data);
      if (eof) stdin.end();
    });
  } else {
    stdin.end();
  }

  try {
    const outcome = await waitForExit(child);
    if ('error' in outcome) return notStarted(outcome.error, file, filtered, context, started, cap);
    const oom =
      outcome.signal === 'SIGKILL' && !timedOut && !context.signal.aborted
        ? await oomWatch.killedSinceLastLook()
        : undefined;
    return {
      exitCode: timedOut ? TIMED_OUT_STATUS : outcome.code,
      signal: outcome.signal,
      timedOut,
      ...oom,
      truncated: cap.truncated,
      droppedBytes: cap.dropped,
      durationMs: performance.now() - started,
    };
  } finally {
    clearTimeout(timer);
    context.signal.removeEventListener('abort', killGroup);
    if (context.signal.aborted) killGroup();
  }
}

type Outcome = { code: number | null; signal: string | null } | { error: NodeJS.ErrnoException };

function waitForExit(child: ExecProcess): Promise<Outcome> {
  return new Promise((resolve) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      if (child.pid === undefined) resolve({ error });
    });
    child.once('exit', (code, signal) => {
      // A background descendant may hold the pipes open: read on while output still comes,
      // then stop waiting. Each look runs after the loop has polled the pipes (setImmediate
      // follows the poll phase), so what the command wrote before it exited is read first,
      // however late the timer fires on a busy guest: a timer that fired first on a loop held
      // up by other spawns used to cut a finished command's output, silently.
      const finish = (): void => resolve({ code, signal });
      let moved = 0;
      const count = (): void => void moved++;
      child.stdout?.on('data', count);
      child.stderr?.on('data', count);
      let seen = 0;
      let timer: NodeJS.Timeout | undefined;
      const look = (): void => {
        // Paused: the host is catching up on what was sent (backpressure), not a stalled pipe.
        const paused = child.stdout?.isPaused() === true || child.stderr?.isPaused() === true;
        if (moved !== seen || paused) {
          seen = moved;
          timer = setTimeout(() => setImmediate(look), DRAIN_AFTER_EXIT_MS);
          return;
        }
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish();
      };
      timer = setTimeout(() => setImmediate(look), DRAIN_AFTER_EXIT_MS);
      child.once('close', () => {
        clearTimeout(timer);
        finish();
      });
    });
  });
}

function notStarted(
  error: NodeJS.ErrnoException,
  file: string,
  viaLoader: boolean,
  context: RequestContext,
  started: number,
  cap: OutputCap,
): ExecResult {
  // With the filter, what failed to start is the loader: never a reason to run unfiltered.
  const notFound = error.code === 'ENOENT' && !viaLoader;
  const reason = viaLoader
    ? `the seccomp loader did not start (${error.code ?? error.message}), so the command did not run under the sandbox filter`
    : notFound
      ? 'command not found'
      : `cannot execute (${error.code ?? error.message})`;
  context.emit('stderr', {
    data: Buffer.from(`ironclaw: ${file}: ${reason}\n`).toString('base64'),
  });
  return {
    exitCode: notFound ? 127 : 126,
    signal: null,
    timedOut: false,
    truncated: cap.truncated,
    droppedBytes: cap.dropped,
    durationMs: performance.now() - started,
  };
}

async function assertDirectory(cwd: string): Promise<void> {
  const info = await stat(cwd).catch(() => undefined);
  if (!info?.isDirectory()) {
    throw new IronClawError(
      'INVALID_ARGUMENT',
      `working directory ${JSON.stringify(cwd)} does not exist in the sandbox`,
    );
  }
}
