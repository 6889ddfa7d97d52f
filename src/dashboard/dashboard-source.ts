import type { DaemonSandbox } from '../runtime/daemon.js';
import type { ApprovalDesk } from './approvals-api.js';

/** What a dashboard shows: the sandboxes of the process that serves it, and the audit store. */
export interface DashboardSource {
  /** What the dashboard is of, in its header: "IronClaw daemon", "MCP server (HTTP)". */
  title: string;
  sandboxes(): DaemonSandbox[];
  /** The audit store's file (auditStorePath()). */
  auditPath: string;
  /** Pending approvals the page may decide; none: the page says decisions are made elsewhere. */
  approvals?: ApprovalDesk | undefined;
}
