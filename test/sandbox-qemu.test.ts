import { describe, test, vi } from 'vitest';
import { probeCgroups } from './support/cgroup-probe.js';
import { defineSandboxSuite } from './suites/sandbox-suite.js';
import { qemuMissing } from './support/qemu-missing.js';

// The same suite as bwrap's and gVisor's, against QEMU micro-VMs. The guest image is built here
// (or found in the cache) before any test runs. Box processes live in the guest kernel, not on
// the host, so the host-side process checks do not apply; limits and cgroups are the guest's.
const uid = process.getuid?.() ?? -1;
const missing = await qemuMissing((message) => process.stderr.write(`image: ${message}\n`));

// Every guest instruction is emulated (TCG): with a CPU hog on both cores a fork bomb or an
// allocation past the limit takes several times its idle time, so a test gets 4x the default.
vi.setConfig({ testTimeout: 120_000 });

if (missing === undefined) {
  defineSandboxSuite('qemu', {
    hostPidNamespace: false,
    cgroups: await probeCgroups(uid),
    vm: true,
    // Under TCG a cold boot takes seconds, and two test files run at once on two cores.
    createDefaults: { startTimeoutMs: 60_000 },
  });
} else {
  describe('sandbox suite (qemu)', () => {
    test.skip(`[skipped: ${missing}]`, () => undefined);
  });
}
