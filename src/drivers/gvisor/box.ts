import { join } from 'node:path';
import { IronClawError, toIronClawError } from '../../core/errors.js';
import type { IsolationReport } from '../../core/isolation.js';
import { resolveLimits } from '../../core/limits.js';
import type { BoxProcess, SpawnBoxOptions } from '../../host/box-process.js';
import type { BoxCgroup } from '../../host/cgroups.js';
import { AGENT_PATH, BOX_ENV } from '../../host/box-env.js';
import { launchBox } from './bundle.js';
import { makeRuntimeDir } from './runtime-dir.js';
import { gvisorIsolation, hostCgroupLimits } from './isolation.js';
import { agentArgs, commandArgs, payloadIo, type PayloadIo, waitForMark } from './payload.js';
import { gvisorPlatform } from './platform.js';
import type { RunscBox } from './runsc.js';
import { detectHostLayout } from '../../host/host-layout.js';
import { captureOutput } from '../../host/capture-output.js';
import { startFailure } from './start-failure.js';
import { assertNoInheritedFds } from '../../host/inherited-fds.js';

/**
 * How long runsc may take to bring a box up when the caller gives no `startTimeoutMs`: the
 * driver's startTimeoutMs capability (index.ts; not imported, so that this file loads lazily).
 */
const START_TIMEOUT_MS = 30_000;

/**
 * Starts a gVisor box: `runsc run` on an OCI bundle (read-only root, tmpfs /workspace and /tmp,
 * no network, uid 1000, rlimits), on the platform probed for this host, in the box's cgroup
 * when there are cgroups. Start-up failures reject at once, quoting runsc's stderr and log.
 *
 * What gVisor enforces differently from bwrap (see gvisor-isolation.ts): the pids limit is
 * RLIMIT_NPROC inside the gVisor kernel; the memory cgroup holds the whole sandbox, so a box
 * that allocates past it is ended as a whole. A memory limit without cgroups is refused.
 */
export async function spawnGvisorBox(options: SpawnBoxOptions): Promise<BoxProcess> {
  const { payload } = options;
  const limits = resolveLimits(options.limits);
  const startTimeoutMs = options.startTimeoutMs ?? START_TIMEOUT_MS;
  // Fail closed: a command that waits on a stdin pipe this driver never makes would hang.
  if (payload.kind === 'command' && payload.stdin === 'pipe')
    throw new IronClawError(
      'DRIVER_UNAVAILABLE',
      'the gvisor driver cannot give a command payload a piped stdin; run the command through a sandbox and an exec',
    );
  if (options.limits.memoryBytes !== undefined && !options.cgroups.available) {
    throw new IronClawError(
      'POLICY_UNENFORCEABLE',
      `cannot limit memory of a gVisor box: ${options.cgroups.reason}`,
    );
  }
  const [, choice, layout] = await Promise.all([
    assertNoInheritedFds(),
    gvisorPlatform(),
    detectHostLayout(),
  ]);
  // As root, runsc runs as the box's own host uid (see RunscOptions.boxUid).
  const boxUid = process.getuid?.() === 0 ? options.rootBoxUid : undefined;
  const runtime = await makeRuntimeDir(options.id, boxUid);
  // Undone in this order (last made, first undone) on failure or at destroy.
  const undo: (() => Promise<void>)[] = [() => runtime.remove()];
  let box: RunscBox | undefined;
  let output: BoxProcess['output'];
  // Set once runsc runs: writing the bundle (a workspace tar among it) is not start-up time.
  let signal: AbortSignal | undefined;
  try {
    const cgroup = options.cgroups.available
      ? await options.cgroups.create(options.id, hostCgroupLimits(limits))
      : undefined;
    if (cgroup) undo.unshift(() => cgroup.remove());
    const io: PayloadIo = await payloadIo(payload, runtime.dir);
    undo.unshift(async () => {
      io.agent?.destroy();
      await io.release();
    });
    box = await launchBox(runtime, {
      runsc: choice.runsc,
      platform: choice.platform,
      limits,
      cgroupProcs: cgroup?.paths.map((path) => join(path, 'cgroup.procs')) ?? [],
      stdio: io.stdio,
      seccomp: options.seccomp ?? 'sandbox',
      boxUid,
      ...(payload.kind === 'agent'
        ? {
            args: agentArgs(layout.nodePath, AGENT_PATH),
            env: { ...BOX_ENV, IRONCLAW_AGENT_FD: '0' },
            withAgent: true,
          }
        : { args: commandArgs(payload), env: BOX_ENV, workspace: payload.workspace }),
    });
    const runsc = box;
    undo.unshift(() => runsc.destroy());
    await io.release();
    signal = AbortSignal.timeout(startTimeoutMs);
    if (payload.kind === 'agent') {
      runsc.child.stderr?.on('data', (chunk: Buffer) => runsc.tail.push(chunk));
    } else {
      await waitForMark(runsc, signal);
      if (payload.stdio === 'inherit') runsc.child.stderr?.pipe(process.stderr, { end: false });
      if (io.relayStdout) runsc.child.stdout?.pipe(process.stdout, { end: false });
      // Right after the mark, before anything else is awaited (see BoxProcess.output).
      if (payload.stdio === 'pipe') output = captureOutput(runsc.child);
    }
    const sentryPid = await runsc.sentryPid(signal);
    const isolation = await gvisorIsolation({
      limits,
      cgroup,
      cgroups: options.cgroups,
      choice,
      sentryPid,
      seccompChoice: options.seccomp ?? 'sandbox',
      signal,
    });
    // The memory cgroup holds the whole sandbox: its OOM kill ends the box, and the counter is
    // how the caller learns that it was memory (box-end.ts, run-once.ts).
    const oom =
      cgroup && limits.memoryBytes !== undefined
        ? { oomKills: () => cgroup.oomKills(), memoryLimitBytes: limits.memoryBytes }
        : undefined;
    return boxProcess(options.id, { runsc, sentryPid, isolation, io, undo, output, cgroup, oom });
  } catch (error) {
    // Destroying runsc waits for its exit, which puts its log's notable lines in its tail.
    await runAll(undo).catch(() => undefined);
    throw startFailure(error, {
      timedOut: signal?.aborted ?? false,
      timeoutMs: startTimeoutMs,
      runscSays: box?.tail.text() ?? '',
      memoryBytes: limits.memoryBytes,
    });
  }
}

function boxProcess(
  id: string,
  parts: {
    runsc: RunscBox;
    sentryPid: number;
    isolation: IsolationReport;
    io: PayloadIo;
    undo: (() => Promise<void>)[];
    output: BoxProcess['output'];
    cgroup: BoxCgroup | undefined;
    oom: Pick<BoxProcess, 'oomKills' | 'memoryLimitBytes'> | undefined;
  },
): BoxProcess {
  let destroying: Promise<void> | undefined;
  const cgroup = parts.cgroup;
  return {
    id,
    process: parts.runsc.child,
    // The sentry: the host process that holds the box (box processes are not host processes).
    boxPid: parts.sentryPid,
    isolation: parts.isolation,
    agent: parts.io.agent,
    output: parts.output,
    // An agent box is up when the agent answers; a command box waited for its shim's mark.
    started: Promise.resolve(true),
    exited: parts.runsc.exited,
    stderrTail: () => parts.runsc.tail.text(),
    // The cgroup holds the whole sandbox: the box's memory is the sentry's and the gofer's, and
    // its pids are their host threads, against the host backstop (see hostCgroupLimits).
    ...(cgroup ? { stats: () => cgroup.stats() } : {}),
    ...parts.oom,
    destroy: () => {
      destroying ??= runAll(parts.undo);
      return destroying;
    },
  };
}

/**
 * Runs every undo step in order, each even if an earlier one failed (the runtime directory is
 * removed whatever happened), and then rethrows the first failure.
 */
async function runAll(steps: readonly (() => Promise<void>)[]): Promise<void> {
  const failures: unknown[] = [];
  for (const step of steps) await step().catch((error: unknown) => failures.push(error));
  if (failures.length > 0) throw toIronClawError(failures[0]);
}
