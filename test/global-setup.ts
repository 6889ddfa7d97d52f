import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * One scratch directory per test run for the sandboxes' audit records (test/setup.ts names a
 * store in it per worker), removed when the run ends: the machine's own audit store stays clean
 * and no run leaves files behind in the temporary directory.
 */
export default async function setup(): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), 'ironclaw-test-audit-'));
  process.env.IRONCLAW_TEST_AUDIT_DIR = dir;
  return () => rm(dir, { recursive: true, force: true });
}
