// Test workers inherit descriptors from the runner without close-on-exec; a process that
// embeds IronClaw must close those before starting boxes (sandboxes refuse to start otherwise).
import { closeInheritedFds } from '../src/host/inherited-fds.js';

closeInheritedFds();

// Sandboxes write to the audit log; the tests' records go to a scratch file, not the machine's.
process.env.IRONCLAW_AUDIT_LOG ??= `${process.env.TMPDIR ?? '/tmp'}/ironclaw-test-audit-${process.getuid?.() ?? 0}-${process.pid}.log`;
