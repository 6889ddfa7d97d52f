import { stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DRIVER_LIST } from '../drivers/index.js';
import { detectCgroups } from '../host/cgroups.js';
import { defaultStateDir, ensureStateDir } from '../host/state-dir.js';
import { sweepUidLeases } from '../host/uid-lease.js';
import { auditLostSandboxes } from './sandbox-ledger.js';

/** What a sweep removed. */
export interface SweepResult {
  cgroups: number;
  runtimeDirs: number;
  /** Box uid leases of dead owners, given back. */
  uidLeases: number;
  /** Sandboxes of dead owners, each now recorded as lost in the audit store. */
  lostSandboxes: number;
}

/**
 * Removes what owners that died without cleaning up (killed with SIGKILL, a crash) left on the
 * host: empty box cgroups, and every driver's runtime directories whose owner process is gone
 * (gVisor bundles, VM directories with their RAM files), box uid leases; and records their sandboxes as lost in
 * the audit store (sandbox-ledger.ts). A live owner's are never touched. Run when the daemon and the MCP server start,
 * and now and then by one-shot runs (sweepLeftoversRarely).
 */
export async function sweepLeftovers(): Promise<SweepResult> {
  const [lostSandboxes, uidLeases, cgroups, ...dirs] = await Promise.all([
    auditLostSandboxes(),
    process.getuid?.() === 0 ? sweepUidLeases() : 0,
    detectCgroups().then((backend) => (backend.available ? backend.sweep() : 0)),
    ...DRIVER_LIST.map((driver) => driver.sweep?.() ?? 0),
  ]);
  const runtimeDirs = dirs.reduce((sum, count) => sum + count, 0);
  return { cgroups, runtimeDirs, uidLeases, lostSandboxes };
}

/** How often one-shot runs sweep, at most (per state directory). */
const ONE_SHOT_SWEEP_EVERY_MS = 10 * 60_000;

/**
 * A sweep for one-shot runs, whose start-up time is the product: at most one every ten
 * minutes per state directory (the time of a stamp file says when the last one began), started
 * once the run's box is up. Never fails: a sweep that cannot run waits for the next one.
 */
export async function sweepLeftoversRarely(): Promise<void> {
  try {
    const stamp = join(defaultStateDir(), 'last-sweep');
    const info = await stat(stamp).catch(() => undefined);
    if (info && Date.now() - info.mtimeMs < ONE_SHOT_SWEEP_EVERY_MS) return;
    await ensureStateDir(defaultStateDir());
    const now = new Date();
    if (info) await utimes(stamp, now, now);
    else await writeFile(stamp, '', { mode: 0o600 });
    await sweepLeftovers();
  } catch {
    // The next run tries again.
  }
}
