import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { unwrap } from '../core/errors.js';
import {
  actionToRet,
  compilePolicy,
  describeRet,
  filterStats,
  loadPolicy,
  SANDBOX_POLICY_FILE,
  SECCOMP_ARCHES,
} from '../core/seccomp/index.js';
import { packageRoot } from '../host/package-files.js';
import { reportError } from './cli-error.js';

/**
 * `ironclaw policy show [--json]`: the effective seccomp policy, every rule with its reason, and
 * per architecture how many syscalls it allows, denies or decides by their arguments, computed
 * here from the compiled program (never typed into the docs).
 */
export async function policyCommand(
  positionals: string[],
  flags: { json?: string | boolean | undefined },
): Promise<number> {
  try {
    if (positionals[0] !== 'show' || positionals.length > 1) {
      process.stderr.write('usage: ironclaw policy show [--json]\n');
      return 2;
    }
    const file = join(await packageRoot(), SANDBOX_POLICY_FILE);
    const policy = unwrap(loadPolicy(JSON.parse(await readFile(file, 'utf8')) as unknown, file));
    const arches = SECCOMP_ARCHES.map((arch) => {
      const compiled = compilePolicy(policy, arch);
      const stats = filterStats(compiled.bytes, arch);
      return {
        arch,
        instructions: compiled.instructions,
        total: stats.total,
        allowed: stats.allowed,
        denied: stats.denied,
        conditional: stats.conditional,
        deniedSyscalls: stats.deniedSyscalls,
        conditionalSyscalls: stats.conditionalSyscalls,
      };
    });
    const rules = policy.rules.map((rule) => ({
      syscalls: rule.syscalls,
      action: describeRet(actionToRet(rule.action)),
      conditions: rule.args.map(
        (c) =>
          `arg${c.arg}${c.op === 'masked-eq' ? ` & 0x${c.mask.toString(16)}` : ''} ${c.op === 'masked-eq' ? 'eq' : c.op} 0x${c.value.toString(16)} (${c.width}-bit)`,
      ),
      reason: rule.reason,
    }));
    if (flags.json) {
      process.stdout.write(
        `${JSON.stringify({ file, name: policy.name, defaultAction: describeRet(actionToRet(policy.defaultAction)), defaultReason: policy.defaultReason, rules, arches }, null, 2)}\n`,
      );
      return 0;
    }
    const out = [
      `seccomp policy "${policy.name}" (${file})`,
      `default: ${describeRet(actionToRet(policy.defaultAction))} — ${policy.defaultReason}`,
      '',
    ];
    for (const arch of arches) {
      out.push(
        `${arch.arch}: ${arch.total} syscalls, ${arch.allowed} allowed, ${arch.denied} denied, ${arch.conditional} decided by their arguments (${arch.conditionalSyscalls.join(', ')}); ${arch.instructions} BPF instructions`,
      );
    }
    out.push('', 'rules:');
    for (const rule of rules) {
      out.push(
        `  ${rule.action.padEnd(10)} ${rule.syscalls.join(', ')}${rule.conditions.length ? ` when ${rule.conditions.join(' and ')}` : ''}`,
        `             ${rule.reason}`,
      );
    }
    process.stdout.write(`${out.join('\n')}\n`);
    return 0;
  } catch (error) {
    return reportError(error);
  }
}
