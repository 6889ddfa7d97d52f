import { PassThrough } from 'node:stream';
import { IronClawError } from '../core/errors.js';
import { exitStatusForSignal } from '../core/exit-status.js';
import { DEFAULT_OUTPUT_CAP_BYTES } from '../core/output-cap.js';
import { packWorkspace } from '../host/workspace-tar.js';
import type { WorkspaceScan } from '../host/workspace-scan.js';
import { driverFor } from '../drivers/index.js';
import { BoxWorkspace } from './box-workspace.js';
import { createSandbox } from './create-sandbox.js';
import type { RunOnceOptions, RunOnceResult } from './run-once-options.js';
import type { Sandbox } from './sandbox.js';
import { writeOrWait } from './write-or-wait.js';

/** No cap on what a one-shot run streams to the caller's own stdout and stderr. */
const UNCAPPED = Number.MAX_SAFE_INTEGER;

/**
 * A one-shot run for drivers whose boxes only run the guest agent (a VM): create a sandbox,
 * copy the workspace in, exec the command with the caller's stdio, destroy. Same result and
 * exit-status rules as a bwrap or gVisor one-shot run.
 */
export async function runInSandbox(
  argv: readonly string[],
  options: RunOnceOptions,
): Promise<RunOnceResult> {
  const started = performance.now();
  // Before a box is made: a driver that cannot make a terminal is refused at once.
  if (options.tty) driverFor(options.driver, { pty: true });
  // Scanned before the box is made, with a long-lived sandbox's rules: the same files go in.
  const workspace =
    options.workspace === undefined
      ? undefined
      : (await BoxWorkspace.prepare({ dir: options.workspace })).scan;
  const sandbox = await createSandbox({
    ...(options.driver === undefined ? {} : { driver: options.driver }),
    ...(options.limits === undefined ? {} : { limits: options.limits }),
    ...(options.rootBoxUid === undefined ? {} : { rootBoxUid: options.rootBoxUid }),
    ...(options.boxUids === undefined ? {} : { boxUids: options.boxUids }),
    ...(options.allowNet === undefined ? {} : { allowNet: options.allowNet }),
    ...(options.mounts === undefined ? {} : { mounts: options.mounts }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  try {
    if (workspace !== undefined) await copyIn(sandbox, workspace, options.signal);
    const inherit = options.stdio === 'inherit';
    const output = await sandbox.exec(argv, {
      ...(options.env === undefined ? {} : { env: options.env }),
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(inherit && (!process.stdin.isTTY || options.interactive === true || options.tty)
        ? { stdin: process.stdin }
        : {}),
      ...(options.tty ? { tty: options.tty } : {}),
      ...(inherit
        ? {
            maxOutputBytes: UNCAPPED,
            collect: false,
            onStdout: (chunk: Buffer) => writeOrWait(process.stdout, chunk),
            onStderr: (chunk: Buffer) => writeOrWait(process.stderr, chunk),
          }
        : { maxOutputBytes: options.maxOutputBytes ?? DEFAULT_OUTPUT_CAP_BYTES }),
    });
    return {
      exitCode: output.exitCode ?? exitStatusForSignal(output.signal),
      signal: output.signal,
      timedOut: output.timedOut,
      oomKilled: output.oomKilled === true,
      ...(output.oomKilled ? { memoryLimitBytes: output.memoryLimitBytes } : {}),
      truncated: output.truncated,
      droppedBytes: output.droppedBytes,
      durationMs: performance.now() - started,
      isolation: sandbox.isolation,
      stdout: output.stdout,
      stderr: output.stderr,
    };
  } finally {
    await sandbox.destroy();
  }
}

/** IronClaw's archive of the scanned workspace, unpacked by the box's tar through exec's stdin. */
async function copyIn(
  sandbox: Sandbox,
  workspace: WorkspaceScan,
  signal: AbortSignal | undefined,
): Promise<void> {
  const archive = new PassThrough();
  const tar = packWorkspace(workspace, archive);
  try {
    const unpacked = await sandbox
      .exec(['tar', '-xf', '-', '-C', '/workspace', '--no-same-owner'], {
        stdin: archive,
        ...(signal === undefined ? {} : { signal }),
      })
      .catch(async (error: unknown) => {
        await tar.done; // the archive's own failure, when it is why the exec failed
        throw error;
      });
    // The archive first: when it was cut short, the box's tar only reports a short archive.
    await tar.done;
    if (unpacked.exitCode !== 0) {
      throw new IronClawError(
        'SANDBOX_START_FAILED',
        `cannot copy workspace ${workspace.dir} into the box: the box's tar ${unpacked.signal ?? `exit code ${unpacked.exitCode}`}: ${unpacked.stderr.toString().trim() || 'tar printed nothing'}`,
      );
    }
  } finally {
    tar.stop();
  }
}
