import type { DaemonSandbox } from '../runtime/daemon.js';
import type { ApprovalDesk } from './approvals-api.js';

/**
 * What a dashboard shows: the sandboxes of the process that serves it, its approvals, and the
 * audit store (read through the process's audit trail).
 */
export interface DashboardSource {
  /** What the dashboard is of, in its header: "IronClaw daemon", "MCP server (HTTP)". */
  title: string;
  sandboxes(): DaemonSandbox[];
  /** Pending approvals the page may decide; none: the page says decisions are made elsewhere. */
  approvals?: ApprovalDesk | undefined;
}
