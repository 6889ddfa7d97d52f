import { IronClawError } from '../core/errors.js';
import { loadConfig } from '../host/config-file.js';
import { runDoctor } from '../runtime/doctor.js';
import { runNetworkDoctor } from '../runtime/doctor-network.js';

/**
 * `ironclaw doctor`: exit 0 when every required check passes (node, bwrap and its boxes), 1
 * otherwise. An optional part that is missing (another driver, cgroups) is shown as `--` with
 * the reason and the fix, and does not fail the command. `--network` runs the network
 * self-test instead: every attack blocked and the allowed host working, or exit 1; with
 * `--driver`, for that driver alone (an unusable one then fails instead of being optional).
 */
export async function doctorCommand(flags: {
  json?: string | boolean | string[] | undefined;
  network?: string | boolean | string[] | undefined;
  driver?: string | boolean | string[] | undefined;
}): Promise<number> {
  if (flags.driver !== undefined && !flags.network) {
    throw new IronClawError(
      'INVALID_ARGUMENT',
      '--driver applies to `doctor --network` only; plain `ironclaw doctor` checks every driver',
    );
  }
  // A broken configuration is the daemon's and the MCP server's error to report, not doctor's.
  const config = await loadConfig({}).catch(() => undefined);
  const checks = flags.network
    ? await runNetworkDoctor(typeof flags.driver === 'string' ? flags.driver : undefined)
    : await runDoctor({ boxUids: config?.boxUids });
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ checks }, null, 2)}\n`);
  } else {
    for (const check of checks) {
      const status = check.ok ? 'ok  ' : check.optional ? '--  ' : 'FAIL';
      process.stdout.write(`${status}  ${check.name}: ${check.detail}\n`);
      if (!check.ok && check.fix) process.stdout.write(`      fix: ${check.fix}\n`);
    }
  }
  return checks.every((check) => check.ok || check.optional) ? 0 : 1;
}
