import type { CallToolResult, InputRequiredResult } from '@modelcontextprotocol/server';
import type { ApprovalBroker } from '../approval/approval-broker.js';
import { IronClawError, unwrap } from '../core/errors.js';
import type { IsolationReport } from '../core/isolation.js';
import type { Limits } from '../core/limits.js';
import { parseBytes } from '../core/units.js';
import type { EgressAsks } from './egress-asks.js';
import type { Logger } from './logger.js';
import type { SessionSandboxes } from './session-sandboxes.js';
import { guarded } from './tool-result.js';

/** What every tool handler of one session works with. */
export interface ToolDeps {
  /** This session's sandboxes: the only ones its tools can reach. */
  sandboxes: SessionSandboxes;
  log: Logger;
  /** The approval cliff (workspace apply); without it nothing is approved. */
  approvals?: ApprovalBroker | undefined;
  /** The host directory (and below) a sandbox's workspace may be copied from. */
  workspaceRoot?: string | undefined;
  /** Where a running call's client is registered to be asked about its sandbox's egress. */
  egressAsks?: EgressAsks | undefined;
}

/** Runs one tool call of the session: it counts as activity, and failures become tool errors. */
export function toolCall<R extends CallToolResult | InputRequiredResult>(
  deps: ToolDeps,
  tool: string,
  handler: () => Promise<R>,
): Promise<R | CallToolResult> {
  return deps.sandboxes.use(() => guarded({ tool, log: deps.log }, handler));
}

/** Checks the limit arguments of `run` and `sandbox_create`. */
export function limitsFrom(args: {
  memory?: string | undefined;
  pids?: number | undefined;
}): Partial<Limits> {
  const limits: Partial<Limits> = {};
  if (args.memory !== undefined) limits.memoryBytes = unwrap(parseBytes(args.memory, 'memory'));
  if (args.pids !== undefined) limits.pids = args.pids;
  return limits;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decodes file content given to a tool, refusing malformed base64 rather than guessing. */
export function decodeContent(
  content: string,
  encoding: 'utf8' | 'base64' | undefined,
  what: string,
  maxBytes: number,
): Buffer {
  let bytes: Buffer;
  if (encoding === 'base64') {
    const compact = content.replace(/\s+/g, '');
    if (compact.length % 4 !== 0 || !BASE64.test(compact))
      throw new IronClawError('INVALID_ARGUMENT', `the content of ${what} is not valid base64`);
    bytes = Buffer.from(compact, 'base64');
  } else {
    bytes = Buffer.from(content, 'utf8');
  }
  if (bytes.length > maxBytes)
    throw new IronClawError(
      'INVALID_ARGUMENT',
      `${what} has ${bytes.length} bytes, more than the ${maxBytes} one call may write; split it, or build it inside the sandbox`,
    );
  return bytes;
}

/** An isolation report as plain JSON (structuredContent must be a plain object). */
export function isolationJson(isolation: IsolationReport): Record<string, unknown> & {
  driver: IsolationReport['driver'];
  hostUid: number;
  layers: Record<string, { on: boolean; detail: string }>;
} {
  const layers: Record<string, { on: boolean; detail: string }> = {};
  for (const [name, layer] of Object.entries(isolation.layers))
    layers[name] = { on: layer.on, detail: layer.detail };
  return { driver: isolation.driver, hostUid: isolation.hostUid, layers };
}
