import { stat } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import { IronClawError } from '../core/errors.js';
import { describeExit } from '../core/exit-status.js';
import { DEFAULT_OUTPUT_CAP_BYTES, OutputCap } from '../core/output-cap.js';
import { formatBytes } from '../core/units.js';
import { monotonicUs } from '../host/kernel-seccomp-log.js';
import { boxUidFor } from '../host/box-uid.js';
import { driverFor } from '../drivers/index.js';
import { type CgroupBackend, detectCgroups } from '../host/cgroups.js';
import { assertLimitsFit } from '../host/driver.js';
import type { WorkspaceScan } from '../host/workspace-scan.js';
import { BoxWorkspace } from './box-workspace.js';
import { sweepLeftoversRarely } from './leftover-sweep.js';
import { oneShotOutcome } from './one-shot-outcome.js';
import type { RunOnceOptions, RunOnceResult } from './run-once-options.js';

/**
 * Runs one command in a fresh box and destroys the box. The command is the box's payload,
 * started by a POSIX sh shim rather than the guest agent, so a one-shot run pays for no second
 * node start-up; the isolation layers are the same ones, built by the same code.
 */
export async function runOnce(
  argv: readonly string[],
  options: RunOnceOptions,
): Promise<RunOnceResult> {
  const driver = driverFor(options.driver);
  // Egress needs the guest agent, which bridges the box's loopback to the proxy, and so does a
  // pseudo-terminal, which the agent makes: a payload command has none, so such a run goes
  // through a sandbox and an exec. So do a directory, variables and mounts: the guest agent's
  // exec takes them the same way on every driver.
  const viaAgent =
    (options.allowNet?.length ?? 0) > 0 ||
    options.tty !== undefined ||
    options.cwd !== undefined ||
    options.env !== undefined ||
    (options.mounts?.length ?? 0) > 0;
  if (!driver.capabilities.commandPayload || viaAgent) {
    const { runInSandbox } = await import('./run-in-sandbox.js');
    // A VM takes seconds to start: the sweep is small beside that.
    const sweep = sweepLeftoversRarely();
    try {
      return await runInSandbox(argv, options);
    } finally {
      await sweep;
    }
  }
  assertLimitsFit(driver, options.limits ?? {}, 'command');
  const started = performance.now();
  const startedUs = monotonicUs();
  // Attaching a process to a cgroup waits out an RCU grace period when the kernel's cgroup
  // lock has been idle (about 12 ms here, most of a one-shot run's budget), so a one-shot run
  // makes a cgroup only when a cgroup limit is asked for. bench/ measures both.
  const wantCgroup =
    options.cgroup ??
    (options.limits?.memoryBytes !== undefined || options.limits?.pids !== undefined);
  const cgroups: CgroupBackend = wantCgroup
    ? await detectCgroups()
    : {
        available: false,
        reason:
          'a one-shot run without --memory or --pids makes no cgroup; its processes are bounded by rlimits and --timeout',
      };
  // Scanned before any box starts, with a long-lived sandbox's rules: the same files go in.
  let workspace: WorkspaceScan | undefined;
  if (options.workspace !== undefined) {
    await assertDirectory(options.workspace);
    workspace = (await BoxWorkspace.prepare({ dir: options.workspace })).scan;
  }
  const uidLease = await boxUidFor(options);
  const box = await driver
    .spawn({
      id: runId(),
      limits: options.limits ?? {},
      payload: {
        kind: 'command',
        argv,
        stdio: options.stdio,
        ...(workspace === undefined ? {} : { workspace }),
      },
      cgroups,
      rootBoxUid: uidLease.uid,
      ...(options.seccomp === undefined ? {} : { seccomp: options.seccomp }),
    })
    .catch(async (error: unknown) => {
      await uidLease.release();
      throw error;
    });
  // Off the start-up path: once the box runs, and at most every few minutes.
  const sweep = sweepLeftoversRarely();
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  // Kept up to the cap; the rest is still read (the command never blocks on a full pipe).
  const cap = new OutputCap(options.maxOutputBytes ?? DEFAULT_OUTPUT_CAP_BYTES);
  for (const [stream, kept] of [
    [box.output?.stdout, stdout],
    [box.output?.stderr, stderr],
  ] as const) {
    stream?.on('data', (chunk: Buffer) => {
      const part = cap.take(chunk);
      if (part.length > 0) kept.push(part);
      const marker = cap.takeMarker();
      if (marker) kept.push(Buffer.from(marker));
    });
  }
  const drained = box.output
    ? Promise.all([finished(box.output.stdout), finished(box.output.stderr)]).catch(() => undefined)
    : undefined;
  let timedOut = false;
  const kill = (): void => void box.destroy();
  const timer =
    options.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          kill();
        }, options.timeoutMs);
  options.signal?.addEventListener('abort', kill, { once: true });
  try {
    const [exit, payloadStarted] = await Promise.all([box.exited, box.started, drained]);
    if (!payloadStarted && !timedOut) {
      throw new IronClawError(
        'SANDBOX_START_FAILED',
        `the sandbox did not start (${describeExit(exit)})${options.limits?.memoryBytes === undefined ? '' : `; its memory limit of ${formatBytes(options.limits.memoryBytes)} may be too small`}${box.stderrTail() ? `: ${box.stderrTail()}` : ''}`,
      );
    }
    return await oneShotOutcome(box, {
      exit,
      timedOut,
      command: argv,
      startedUs,
      started,
      cap,
      stdout,
      stderr,
    });
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', kill);
    // The uid goes back only once every process of the box is gone.
    await Promise.all([box.destroy().finally(() => uidLease.release()), sweep]);
  }
}

async function assertDirectory(dir: string): Promise<void> {
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory())
    throw new IronClawError('INVALID_ARGUMENT', `--workspace ${dir} is not a directory`);
}

let runs = 0;

/**
 * Names the run's cgroup. It is never handed to a client, so it need not be unguessable, and
 * leaving node:crypto unloaded keeps a one-shot start-up shorter.
 */
function runId(): string {
  return `run-${process.pid}-${Date.now().toString(36)}-${++runs}`;
}
