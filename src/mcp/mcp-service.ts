import type { SandboxSource } from '../runtime/sandbox-source.js';
import type { Logger } from './logger.js';

/** What both transports need to serve sessions. */
export interface McpServeOptions {
  source: SandboxSource;
  log: Logger;
  version: string;
  /** A session's sandboxes are destroyed after this long without a call. */
  idleMs: number;
  maxSandboxesPerSession: number;
}

/** A running MCP server: `closed` resolves when it has stopped and destroyed its sandboxes. */
export interface McpService {
  readonly closed: Promise<void>;
  close(): Promise<void>;
}
