import { runDoctor } from '../runtime/doctor.js';

/**
 * `ironclaw doctor`: exit 0 when every required check passes (node, bwrap and its boxes), 1
 * otherwise. An optional part that is missing (another driver, cgroups) is shown as `--` with
 * the reason and the fix, and does not fail the command.
 */
export async function doctorCommand(flags: {
  json?: string | boolean | string[] | undefined;
}): Promise<number> {
  const checks = await runDoctor();
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
