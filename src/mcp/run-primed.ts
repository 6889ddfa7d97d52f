import type { ServerContext } from '@modelcontextprotocol/server';
import { primedCommandFits } from '../runtime/primed-box.js';
import type { SandboxRequest } from '../runtime/sandbox-source.js';
import type { ExecArgs, ExecFields } from './exec-for-tool.js';
import { ExecProgress } from './exec-progress.js';
import { MCP_LIMITS } from './schemas.js';
import type { SessionSandboxes } from './session-sandboxes.js';
import type { isolationJson } from './tool-context.js';

/**
 * `run` of a shell command line through a box started ahead of it, with no guest agent
 * (runtime/primed-box.ts): the same isolation, the same result, without a sandbox's node
 * start-up. Undefined when the call needs what only the guest agent does (variables for the
 * command, files or code written first) or the request needs a sandbox (egress, a driver that
 * cannot start a box before its command): the caller then runs it through a sandbox.
 */
export async function runPrimedForTool(
  sandboxes: SessionSandboxes,
  request: SandboxRequest,
  command: string,
  args: ExecArgs & { files?: readonly unknown[] | undefined },
  ctx: ServerContext,
): Promise<(ExecFields & { isolation: Parameters<typeof isolationJson>[0] }) | undefined> {
  if (args.env !== undefined || args.cwd !== undefined || (args.files?.length ?? 0) > 0)
    return undefined;
  if (!primedCommandFits(command)) return undefined;
  const timeoutMs = Math.round((args.timeoutSeconds ?? MCP_LIMITS.defaultTimeoutSeconds) * 1000);
  const token = ctx.mcpReq._meta?.progressToken;
  const progress =
    token === undefined
      ? undefined
      : new ExecProgress({
          timeoutMs,
          send: (update) =>
            ctx.mcpReq.notify({
              method: 'notifications/progress',
              params: { progressToken: token, ...update },
            }),
        });
  progress?.start();
  try {
    const result = await sandboxes.runPrimed(request, {
      command,
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
