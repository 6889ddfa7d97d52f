// Test workers inherit descriptors from the runner without close-on-exec; a process that
// embeds IronClaw must close those before starting boxes (sandboxes refuse to start otherwise).
import { closeInheritedFds } from '../src/host/inherited-fds.js';

closeInheritedFds();

// Sandboxes write to the audit store; the tests' records go to a store per worker in the run's
// directory (test/global-setup.ts), not to the machine's.
const auditDir = process.env.IRONCLAW_TEST_AUDIT_DIR;
if (auditDir === undefined)
  throw new Error('test/global-setup.ts did not run (see vitest.config.ts)');
process.env.IRONCLAW_AUDIT_DB ??= `${auditDir}/audit-${process.pid}.db`;
process.env.IRONCLAW_APPROVALS ??= `${auditDir}/approvals.json`;
