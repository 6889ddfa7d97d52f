import { access, constants } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe } from 'vitest';
import { defineConfinementTests } from './confinement-tests.js';
import { defineExecTests } from './exec-tests.js';
import { defineIsolationTests } from './isolation-tests.js';
import { defineLifecycleTests } from './lifecycle-tests.js';
import { defineLimitTests } from './limit-tests.js';
import { type Driver, type SandboxSuiteOptions, suiteContext } from './suite-context.js';

export type { Driver, SandboxSuiteOptions } from './suite-context.js';

const GUEST_BUNDLE = fileURLToPath(new URL('../../dist/guest.mjs', import.meta.url));

/**
 * The driver-independent sandbox suite, against real boxes: exec, timeouts and destroy,
 * isolation attacks, resource limits, and id/path confinement. Each driver's test file calls it
 * with what that driver and this host let it expect; expectations that depend on privilege
 * (cgroups) are taken from `options`, and tests that cannot apply are skipped with the reason in
 * their name.
 */
export function defineSandboxSuite(driver: Driver, options: SandboxSuiteOptions): void {
  const ctx = suiteContext(driver, options);
  const who = `uid ${process.getuid?.() ?? '?'}`;
  describe(`sandbox suite (${driver}, ${who}, cgroups ${options.cgroups.available ? 'on' : 'off'})`, () => {
    beforeAll(async () => {
      await access(GUEST_BUNDLE, constants.R_OK).catch((error: unknown) => {
        throw new Error(`the guest agent bundle ${GUEST_BUNDLE} is missing or unreadable: run \`npm run build\` first`, { cause: error });
      });
    });
    defineExecTests(ctx);
    defineLifecycleTests(ctx);
    defineIsolationTests(ctx);
    defineLimitTests(ctx);
    defineConfinementTests(ctx);
  });
}
