import type { ApprovalBroker } from '../approval/approval-broker.js';
import type { SandboxSource } from '../runtime/sandbox-source.js';
import type { EgressAsks } from './egress-asks.js';
import type { Logger } from './logger.js';

/** What both transports need to serve sessions. */
export interface McpServeOptions {
  source: SandboxSource;
  log: Logger;
  version: string;
  /** A session's sandboxes are destroyed after this long without a call. */
  idleMs: number;
  maxSandboxesPerSession: number;
  /** The approval cliff of this server's sandboxes (workspace_apply). */
  approvals?: ApprovalBroker | undefined;
  /** Host directory (and below) that sandbox_create may copy in as a workspace. */
  workspaceRoot?: string | undefined;
  /** The channels of egress asks, shared with the sandbox source's approvals. */
  egressAsks?: EgressAsks | undefined;
}

/** A running MCP server: `closed` resolves when it has stopped and destroyed its sandboxes. */
export interface McpService {
  readonly closed: Promise<void>;
  close(): Promise<void>;
}
