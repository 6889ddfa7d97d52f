import { describe, test } from 'vitest';
import { runscBinary } from '../src/drivers/gvisor/platform.js';
import { probeCgroups } from './support/cgroup-probe.js';
import { defineSandboxSuite } from './suites/sandbox-suite.js';

// The same suite as bwrap's, against gVisor boxes. Box processes live in the gVisor kernel, not
// on the host, so the host-side process checks do not apply; everything else must hold.
const uid = process.getuid?.() ?? -1;
const missing = await runscBinary().then(
  () => undefined,
  (error: Error) => error.message,
);

if (missing === undefined) {
  defineSandboxSuite('gvisor', {
    hostPidNamespace: false,
    cgroups: await probeCgroups(uid),
  });
} else {
  describe('sandbox suite (gvisor)', () => {
    test.skip(`[skipped: ${missing}]`, () => undefined);
  });
}
