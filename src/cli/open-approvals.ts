import { ApprovalBroker } from '../approval/approval-broker.js';
import { ApprovalPolicy } from '../approval/approval-policy.js';
import { auditTrailStore } from '../audit/audit-trail.js';
import { toIronClawError } from '../core/errors.js';

/**
 * The approval cliff of a long-lived process (the daemon, an MCP server): a broker that records
 * in the process's audit store. Approvals are recorded before they are decided, so without the
 * store there is no broker, and `unavailable` says why: nothing is approved then.
 */
export function openApprovals(): {
  approvals: ApprovalBroker | undefined;
  unavailable: string | undefined;
} {
  try {
    return {
      approvals: new ApprovalBroker({ audit: auditTrailStore(), policy: new ApprovalPolicy() }),
      unavailable: undefined,
    };
  } catch (error) {
    return { approvals: undefined, unavailable: toIronClawError(error).message };
  }
}
