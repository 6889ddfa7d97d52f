import { ApprovalBroker } from '../approval/approval-broker.js';
import { ApprovalPolicy } from '../approval/approval-policy.js';
import { AuditStore } from '../audit/audit-store.js';
import { toIronClawError } from '../core/errors.js';

/**
 * The approval cliff of a long-lived process (the daemon, an MCP server): a broker that records
 * in the audit store. Approvals are recorded before they are decided, so without the store there
 * is no broker, and `unavailable` says why: nothing is approved then.
 */
export async function openApprovals(): Promise<{
  approvals: ApprovalBroker | undefined;
  unavailable: string | undefined;
  close(): void;
}> {
  try {
    const audit = await AuditStore.open();
    return {
      approvals: new ApprovalBroker({ audit, policy: new ApprovalPolicy() }),
      unavailable: undefined,
      close: () => audit.close(),
    };
  } catch (error) {
    return {
      approvals: undefined,
      unavailable: toIronClawError(error).message,
      close: () => undefined,
    };
  }
}
