import { runDoctor } from '../runtime/doctor.js';

/** `ironclaw doctor`: exit 0 when every check passes, 1 otherwise. */
export async function doctorCommand(flags: {
  json?: string | boolean | undefined;
}): Promise<number> {
  const checks = await runDoctor();
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ checks }, null, 2)}\n`);
  } else {
    for (const check of checks) {
      process.stdout.write(`${check.ok ? 'ok  ' : 'FAIL'}  ${check.name}: ${check.detail}\n`);
      if (!check.ok && check.fix) process.stdout.write(`      fix: ${check.fix}\n`);
    }
  }
  return checks.every((check) => check.ok) ? 0 : 1;
}
