import type { ServerContext } from '@modelcontextprotocol/server';
import { resolveSandboxPath } from '../core/sandbox-path.js';
import { primedCommandFits, primedFilesFit, type PrimedFile } from '../runtime/primed-box.js';
import type { SandboxRequest } from '../runtime/sandbox-source.js';
import type { ExecArgs, ExecFields } from './exec-for-tool.js';
import { progressFor } from './exec-progress.js';
import { MCP_LIMITS } from './schemas.js';
import type { SessionSandboxes } from './session-sandboxes.js';
import type { isolationJson } from './tool-context.js';

/** What a `run` asks of a box: files written in order, then a shell command line. */
export interface RunPlan {
  /** Paths as the caller gave them (relative to /workspace, or absolute under it or /tmp). */
  files: readonly PrimedFile[];
  command: string;
}

/**
 * `run` through a box started ahead of it, with no guest agent (runtime/primed-box.ts): the
 * same isolation, the same files, variables and result, without a sandbox's node start-up.
 * Undefined when the call needs what only the guest agent does (a working directory, a file
 * path the agent would refuse or resolve through the box's filesystem) or the request needs a
 * sandbox (egress, a driver that cannot start a box before its command): the caller then runs
 * it through a sandbox, which also gives any error the same words as before.
 */
export async function runPrimedForTool(
  sandboxes: SessionSandboxes,
  request: SandboxRequest,
  plan: RunPlan,
  args: ExecArgs,
  ctx: ServerContext,
): Promise<(ExecFields & { isolation: Parameters<typeof isolationJson>[0] }) | undefined> {
  if (args.cwd !== undefined || !primedCommandFits(plan.command)) return undefined;
  const files: PrimedFile[] = [];
  for (const file of plan.files) {
    const resolved = resolveSandboxPath(file.path);
    if (!resolved.ok) return undefined;
    files.push({ path: resolved.value, data: file.data });
  }
  if (!primedFilesFit(files.map((file) => file.path))) return undefined;
  const timeoutMs = Math.round((args.timeoutSeconds ?? MCP_LIMITS.defaultTimeoutSeconds) * 1000);
  const progress = progressFor(ctx, timeoutMs);
  progress?.start();
  try {
    const result = await sandboxes.runPrimed(request, {
      command: plan.command,
      files,
      env: args.env,
      stdin: args.stdin,
      timeoutMs,
      maxOutputBytes: args.maxOutputBytes ?? MCP_LIMITS.defaultOutputBytes,
      signal: ctx.mcpReq.signal,
      ...(progress ? { onOutput: (chunk: Buffer) => progress.onOutput(chunk) } : {}),
    });
    if (!result) return undefined;
    return {
      exitCode: result.exitCode,
      signal: result.signal,
      timedOut: result.timedOut,
      oomKilled: result.oomKilled,
      truncated: result.truncated,
      droppedBytes: result.droppedBytes,
      durationMs: Math.round(result.durationMs),
      stdout: result.stdout.toString('utf8'),
      stderr: result.stderr.toString('utf8'),
      isolation: result.isolation,
    };
  } finally {
    progress?.stop();
  }
}
