import type { ServerContext } from '@modelcontextprotocol/server';
import type { Sandbox } from '../runtime/sandbox.js';
import { progressFor } from './exec-progress.js';
import { MCP_LIMITS } from './schemas.js';

export interface ExecArgs {
  stdin?: string | undefined;
  env?: Record<string, string> | undefined;
  cwd?: string | undefined;
  timeoutSeconds?: number | undefined;
  maxOutputBytes?: number | undefined;
}

/** The outcome of one exec as a tool reports it (see execOutputFields). */
export interface ExecFields {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  oomKilled: boolean;
  truncated: boolean;
  droppedBytes: number;
  durationMs: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command for a tool call: output streams to the client as progress when it asked for
 * progress, and the call's cancellation (notifications/cancelled, or a closed connection) kills
 * the command's whole process group in the box.
 */
export async function execForTool(
  sandbox: Sandbox,
  command: string | readonly string[],
  args: ExecArgs,
  ctx: ServerContext,
  defaultTimeoutSeconds: number = MCP_LIMITS.defaultTimeoutSeconds,
): Promise<ExecFields> {
  const timeoutMs = Math.round((args.timeoutSeconds ?? defaultTimeoutSeconds) * 1000);
  const progress = progressFor(ctx, timeoutMs);
  const onOutput = progress ? (chunk: Buffer): void => progress.onOutput(chunk) : undefined;
  progress?.start();
  try {
    const result = await sandbox.exec(command, {
      timeoutMs,
      maxOutputBytes: args.maxOutputBytes ?? MCP_LIMITS.defaultOutputBytes,
      signal: ctx.mcpReq.signal,
      ...(args.cwd === undefined ? {} : { cwd: args.cwd }),
      ...(args.env === undefined ? {} : { env: args.env }),
      ...(args.stdin === undefined ? {} : { stdin: args.stdin }),
      ...(onOutput ? { onStdout: onOutput, onStderr: onOutput } : {}),
    });
    return {
      exitCode: result.exitCode,
      signal: result.signal,
      timedOut: result.timedOut,
      oomKilled: result.oomKilled === true,
      truncated: result.truncated,
      droppedBytes: result.droppedBytes,
      durationMs: Math.round(result.durationMs),
      stdout: result.stdout.toString('utf8'),
      stderr: result.stderr.toString('utf8'),
    };
  } finally {
    progress?.stop();
  }
}

/** The result as text for a model: status first, then each stream that has output. */
export function execText(result: ExecFields, timeoutSeconds?: number): string {
  const status = result.timedOut
    ? `timed out${timeoutSeconds === undefined ? '' : ` after ${timeoutSeconds} s`} and was killed`
    : result.oomKilled
      ? 'killed: out of memory (the sandbox memory limit was reached)'
      : result.exitCode === null
        ? `killed by ${result.signal ?? 'a signal'}`
        : `exit code ${result.exitCode}`;
  const lines = [`${status} (${result.durationMs} ms)`];
  if (result.stdout) lines.push('--- stdout ---', result.stdout.replace(/\n$/, ''));
  if (result.stderr) lines.push('--- stderr ---', result.stderr.replace(/\n$/, ''));
  if (!result.stdout && !result.stderr) lines.push('(no output)');
  if (result.truncated)
    lines.push(`(output truncated: ${result.droppedBytes} more bytes were dropped)`);
  return lines.join('\n');
}
