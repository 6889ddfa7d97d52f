import { type ChildProcess, type IOType, spawn } from 'node:child_process';
import { type FileHandle, open } from 'node:fs/promises';
import type { Duplex, Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { IronClawError, unwrap } from '../../core/errors.js';
import type { BoxMount, BoxProcess, SpawnBoxOptions } from '../../host/box-process.js';
import { EGRESS_SOCKET_IN_BOX } from '../../core/egress-env.js';
import { resolveLimits } from '../../core/limits.js';
import { BoundedTail } from '../../host/bounded-tail.js';
import { captureOutput } from '../../host/capture-output.js';
import { checkBoxEnv, checkBoxMounts } from '../../host/box-mounts.js';
import { SLOT_CHANNEL, bwrapCommand } from './command.js';
import type { BoxCgroup } from '../../host/cgroups.js';
import { assertNoInheritedFds } from '../../host/inherited-fds.js';
import { guardBoxStreams } from '../../host/box-streams.js';
import { packWorkspace } from '../../host/workspace-tar.js';
import { lowerPortFloor } from '../../host/port-floor.js';
import { type BwrapOptions, bwrapIsolation } from './isolation.js';

/** Starts a bubblewrap box: namespaces, read-only root, rlimits, cgroups where available. */
export async function spawnBwrapBox(options: SpawnBoxOptions): Promise<BoxProcess> {
  const { payload } = options;
  const limits = resolveLimits(options.limits);
  const asRoot = process.getuid?.() === 0;
  const env = unwrap(checkBoxEnv(options.env ?? {}));
  const [, mounts] = await Promise.all([
    assertNoInheritedFds(),
    checkBoxMounts(withEgressMount(options), { runAsUid: asRoot ? options.rootBoxUid : undefined }),
  ]);
  const needsCgroup = [
    options.limits.memoryBytes === undefined ? '' : 'memory',
    options.limits.pids === undefined ? '' : 'processes',
  ].filter(Boolean);
  if (needsCgroup.length > 0 && !options.cgroups.available) {
    throw new IronClawError(
      'POLICY_UNENFORCEABLE',
      `cannot limit ${needsCgroup.join(' and ')}: ${options.cgroups.reason}`,
    );
  }
  const cgroup = options.cgroups.available
    ? await options.cgroups.create(options.id, limits)
    : undefined;
  const handles: FileHandle[] = [];
  try {
    const command = await bwrapCommand({
      limits,
      payload,
      env,
      mounts,
      seccomp: options.seccomp ?? 'sandbox',
      supervisor: { cgroup: cgroup !== undefined },
    });
    const { files, slots } = command;
    const opened = await Promise.all(
      files.map(async (file) => ({ fd: file.fd, handle: await open(file.path, 'r') })),
    );
    handles.push(...opened.map(({ handle }) => handle));
    const userStdio = payload.kind === 'command' ? payload.stdio : undefined;
    const workspaceDir = payload.kind === 'command' ? payload.workspaceDir : undefined;
    const pipedStdin = payload.kind === 'command' && payload.stdin === 'pipe';
    const stdio: (IOType | number | undefined)[] = [
      pipedStdin ? 'pipe' : userStdio ? 'inherit' : 'ignore',
      userStdio ?? 'ignore',
      userStdio === 'inherit' ? 'inherit' : 'pipe',
    ];
    for (const pipe of [
      SLOT_CHANNEL,
      slots.workspace,
      slots.workspaceWhole,
      slots.info,
      slots.block,
    ])
      if (pipe !== undefined) stdio[pipe] = 'pipe';
    for (const { fd, handle } of opened) stdio[fd] = handle.fd;
    const [program, ...args] = command.argv;
    const child = spawn(program, args, {
      // Dense: node would skip the holes of a sparse array and shift every later slot.
      stdio: Array.from(stdio, (io) => io ?? 'ignore'),
      detached: true,
      env: {},
      ...(asRoot ? { uid: options.rootBoxUid, gid: options.rootBoxUid } : {}),
    });
    guardBoxStreams(child);
    const packer =
      workspaceDir === undefined
        ? undefined
        : streamWorkspace(
            workspaceDir,
            slot(child, slots.workspace),
            slot(child, slots.workspaceWhole),
          );
    return await startBox(
      child,
      { ...options, mounts, limits, seccompSummary: command.seccompSummary },
      { cgroup, ...slots },
      asRoot ? options.rootBoxUid : (process.getuid?.() ?? -1),
      packer,
    );
  } catch (error) {
    await cgroup?.remove();
    throw error;
  } finally {
    await Promise.allSettled(handles.map((handle) => handle.close()));
  }
}

async function startBox(
  child: ChildProcess,
  options: BwrapOptions,
  supervisor: {
    cgroup: BoxCgroup | undefined;
    info: number | undefined;
    block: number | undefined;
  },
  hostUid: number,
  packer: BoundedTail | undefined,
): Promise<BoxProcess> {
  const { cgroup } = supervisor;
  const tail = packer ?? new BoundedTail();
  if (options.payload.kind === 'agent' || options.payload.stdio === 'pipe') {
    child.stderr?.on('data', (chunk: Buffer) => tail.push(chunk));
  }
  const output =
    options.payload.kind === 'command' && options.payload.stdio === 'pipe'
      ? captureOutput(child)
      : undefined;
  // Listen to the channel before anything is awaited: when a process exits, node resumes its
  // unread pipes and drops what is in them, so a fast command's start mark could be lost.
  const channel = slot(child, SLOT_CHANNEL);
  const started =
    options.payload.kind === 'agent'
      ? Promise.resolve(true)
      : new Promise<boolean>((resolve) => {
          channel.once('data', () => resolve(true));
          channel.once('close', () => resolve(false));
        });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  let spawnFailure: IronClawError | undefined;
  const spawnError = new Promise<never>((_, reject) => {
    child.once('error', (error) => {
      spawnFailure = new IronClawError(
        'SANDBOX_START_FAILED',
        `cannot start bwrap: ${error.message}; run \`ironclaw doctor\``,
        {
          cause: error,
        },
      );
      reject(spawnFailure);
    });
  });
  let boxPid: number;
  try {
    // The info descriptor, not the exit event, decides: a fast command can exit before we have
    // read the pid that bwrap did report.
    boxPid = await Promise.race([readChildPid(slot(child, supervisor.info)), spawnError]);
    if (cgroup) {
      await cgroup.attach(boxPid);
      slot(child, supervisor.block).end('x');
    }
  } catch (error) {
    // Nothing of a box that failed to start may stay behind; say why, in bwrap's own words.
    signal(child.pid, 'SIGKILL');
    if (error === spawnFailure) throw error;
    const outcome = await Promise.race([exited, delay(2000, undefined)]);
    const status = outcome ? ` (${outcome.signal ?? `exit code ${outcome.code}`})` : '';
    throw new IronClawError(
      'SANDBOX_START_FAILED',
      `the sandbox failed during start-up${status}: ${tail.text() || (error instanceof Error ? error.message : 'bwrap printed nothing')}`,
      { cause: error },
    );
  }
  let destroying: Promise<void> | undefined;
  return {
    id: options.id,
    process: child,
    boxPid,
    isolation: bwrapIsolation(options, cgroup, hostUid),
    agent: options.payload.kind === 'agent' ? channel : undefined,
    output,
    input:
      options.payload.kind === 'command' && options.payload.stdin === 'pipe'
        ? (child.stdin ?? undefined)
        : undefined,
    started,
    exited,
    stderrTail: () => tail.text(),
    lowerPortFloor: (port, signal) => lowerPortFloor(boxPid, port, signal),
    ...(cgroup ? { stats: () => cgroup.stats() } : {}),
    ...(cgroup && options.limits.memoryBytes !== undefined
      ? { oomKills: () => cgroup.oomKills(), memoryLimitBytes: options.limits.memoryBytes }
      : {}),
    destroy: () => {
      destroying ??= (async () => {
        // Killing the box's pid 1 takes its whole pid namespace with it; the outer bwrap then
        // reaps it and exits. Only if it does not do so in time is it killed too, so no box
        // process is left running (or unreaped) when destroy resolves.
        signal(boxPid, 'SIGKILL');
        if (child.exitCode === null && child.signalCode === null) {
          const deadline = setTimeout(() => signal(child.pid, 'SIGKILL'), DESTROY_GRACE_MS);
          await exited;
          clearTimeout(deadline);
        }
        await cgroup?.remove();
      })();
      return destroying;
    },
  };
}

/**
 * Streams a tar of `dir` into the box through our end of the socket pair, then closes our copy,
 * so the box sees end-of-file when tar is done; once tar has exited 0, says `ok` on `whole`, and
 * only then does the box run the command. A tar that skipped a file it could not read (exit 2,
 * the archive otherwise fine) gets no `ok`: the box stops before the command (125), and its
 * start-up error quotes tar's complaints, which go to the returned tail.
 */
function streamWorkspace(dir: string, end: Duplex, whole: Duplex): BoundedTail {
  const tar = packWorkspace(dir, end);
  end.destroy();
  whole.on('error', () => undefined); // the box is gone already: its exit tells
  void tar.done.then(
    () => whole.end('ok\n'),
    () => whole.destroy(),
  );
  return tar.complaints;
}

/** How long the outer bwrap gets to reap a killed box before it is killed as well. */
const DESTROY_GRACE_MS = 2000;

function signal(pid: number | undefined, name: NodeJS.Signals): void {
  try {
    if (pid !== undefined) process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

/** A 'pipe' stdio slot past stderr: node makes it a socket pair, so it is duplex. */
function slot(child: ChildProcess, index: number | undefined): Duplex {
  const stream = index === undefined ? undefined : (child.stdio as readonly unknown[])[index];
  if (!stream) throw new IronClawError('INTERNAL', `stdio slot ${index} of bwrap is not a pipe`);
  return stream as Duplex;
}

/** bwrap writes a small JSON object with the box's pid 1 to its info fd, then closes it. */
function readChildPid(info: Readable): Promise<number> {
  return new Promise((resolve, reject) => {
    let text = '';
    info.setEncoding('utf8');
    info.on('data', (chunk: string) => {
      text += chunk;
    });
    info.once('close', () => {
      const match = /"child-pid"\s*:\s*(\d+)/.exec(text);
      if (match?.[1]) resolve(Number(match[1]));
      else
        reject(
          new IronClawError(
            'SANDBOX_START_FAILED',
            `bwrap did not report its child pid (got ${JSON.stringify(text.slice(0, 200))})`,
          ),
        );
    });
  });
}

/** The box's mounts, with the egress proxy's socket bound in where the agent's bridge finds it. */
function withEgressMount(options: SpawnBoxOptions): readonly BoxMount[] {
  const mounts = options.mounts ?? [];
  if (options.egressSocket === undefined) return mounts;
  return [...mounts, { host: options.egressSocket, guest: EGRESS_SOCKET_IN_BOX, readOnly: false }];
}
