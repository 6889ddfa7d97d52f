import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // expect.poll waits for an event by polling; its default 1 s deadline is a timing
    // assumption a busy machine breaks (issue 13 §7), so it gets the test's own budget.
    expect: { poll: { timeout: 30_000 } },
    // Real boxes on a 2-core machine: keep parallelism modest so timing-sensitive
    // isolation checks (timeouts, teardown) are not starved.
    maxWorkers: 2,
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['test/setup.ts'],
    reporters: ['default'],
  },
});
