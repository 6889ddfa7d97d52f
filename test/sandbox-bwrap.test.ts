import { probeCgroups } from './support/cgroup-probe.js';
import { defineSandboxSuite } from './suites/sandbox-suite.js';

// Run as root, IronClaw starts each box as a host uid of its own; run as anyone else, as that user. An
// unprivileged user on a cgroup v1 host gets no cgroups: the suite then expects the report to say
// so and skips the cgroup tests visibly (test/unprivileged.test.ts runs this file that way).
const uid = process.getuid?.() ?? -1;

defineSandboxSuite('bwrap', {
  hostPidNamespace: true,
  cgroups: await probeCgroups(uid),
});
