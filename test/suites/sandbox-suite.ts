import { access, constants } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe } from 'vitest';
import { defineConfinementTests } from './confinement-tests.js';
import { defineExecTests } from './exec-tests.js';
import { defineIsolationTests } from './isolation-tests.js';
import { defineLifecycleTests } from './lifecycle-tests.js';
import { defineLimitTests } from './limit-tests.js';
import { defineSeccompTests } from './seccomp-tests.js';
import { type Driver, type SandboxSuiteOptions, suiteContext } from './suite-context.js';

export type { Driver, SandboxSuiteOptions } from './suite-context.js';

const GUEST_BUNDLE = fileURLToPath(new URL('../../dist/guest.mjs', import.meta.url));

/**
 * The driver-independent sandbox suite, against real boxes: exec, timeouts and destroy,
 * isolation attacks, resource limits, and id/path confinement. Each driver's test file calls it
 * with what that driver and this host let it expect; expectations that depend on privilege
 * (cgroups) are taken from `options`, and tests that cannot apply are skipped with the reason in
 * their name.
 *
 * What changes when the suite runs as an ordinary user (test/unprivileged.test.ts), on a host
 * whose cgroups that user cannot write (cgroup v1 here):
 * - the isolation report must say cgroup off, with the reason;
 * - the pids and memory cgroup tests and the cgroup-removal test are skipped with that reason;
 * - a memory limit must be refused with POLICY_UNENFORCEABLE instead (fail closed);
 * - the RLIMIT_NPROC fork-bomb test runs in both modes: it is the only backstop without cgroups;
 * - the box runs as the caller's host uid instead of a uid of its own from the box range.
 */
export function defineSandboxSuite(driver: Driver, options: SandboxSuiteOptions): void {
  const ctx = suiteContext(driver, options);
  const who = `uid ${process.getuid?.() ?? '?'}`;
  describe(`sandbox suite (${driver}, ${who}, cgroups ${options.cgroups.available ? 'on' : 'off'})`, () => {
    beforeAll(async () => {
      await access(GUEST_BUNDLE, constants.R_OK).catch((error: unknown) => {
        throw new Error(
          `the guest agent bundle ${GUEST_BUNDLE} is missing or unreadable: run \`npm run build\` first`,
          { cause: error },
        );
      });
    });
    defineExecTests(ctx);
    defineLifecycleTests(ctx);
    defineIsolationTests(ctx);
    defineSeccompTests(ctx);
    defineLimitTests(ctx);
    defineConfinementTests(ctx);
  });
}
