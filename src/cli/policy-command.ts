import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { unwrap } from '../core/errors.js';
import {
  actionToRet,
  compilePolicy,
  describeRet,
  filterStats,
  loadPolicy,
  SECCOMP_ARCHES,
  SECCOMP_POLICY_NAMES,
  seccompPolicyFile,
  type SeccompPolicyName,
} from '../core/seccomp/index.js';
import { packageRoot } from '../host/package-files.js';
import { reportError } from './cli-error.js';

/**
 * `ironclaw policy show [NAME] [--json]`: a seccomp policy (by default the sandbox's; or a VMM's
 * allow-list: vmm-qemu, vmm-firecracker), how it was derived, every rule with its reason, and per
 * architecture how many syscalls it allows, denies or decides by their arguments, computed here
 * from the compiled program (never typed into the docs).
 */
export async function policyCommand(
  positionals: string[],
  flags: { json?: string | boolean | string[] | undefined },
): Promise<number> {
  try {
    const name = positionals[1] ?? 'sandbox';
    if (positionals[0] !== 'show' || positionals.length > 2 || !isPolicyName(name)) {
      process.stderr.write(
        `usage: ironclaw policy show [${SECCOMP_POLICY_NAMES.join('|')}] [--json]\n`,
      );
      return 2;
    }
    const file = join(await packageRoot(), seccompPolicyFile(name));
    const json = JSON.parse(await readFile(file, 'utf8')) as { derivation?: unknown };
    const policy = unwrap(loadPolicy(json, file));
    const derivation = json.derivation as
      { by: string; from: string; date: string; notes?: string } | undefined;
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
        `${JSON.stringify({ file, name: policy.name, description: policy.description, derivation, defaultAction: describeRet(actionToRet(policy.defaultAction)), defaultReason: policy.defaultReason, rules, arches }, null, 2)}\n`,
      );
      return 0;
    }
    const out = [
      `seccomp policy "${policy.name}" (${file})`,
      ...(policy.description === undefined ? [] : [policy.description]),
      ...(derivation === undefined
        ? []
        : [
            `derived ${derivation.date} by ${derivation.by}`,
            `from ${derivation.from}${derivation.notes === undefined ? '' : ` (${derivation.notes})`}`,
          ]),
      `default: ${describeRet(actionToRet(policy.defaultAction))} — ${policy.defaultReason}`,
      '',
    ];
    for (const arch of arches) {
      out.push(
        `${arch.arch}: ${arch.total} syscalls, ${arch.allowed} allowed, ${arch.denied} denied, ${arch.conditional} decided by their arguments (${arch.conditionalSyscalls.join(', ') || 'none'}); ${arch.instructions} BPF instructions`,
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

function isPolicyName(name: string): name is SeccompPolicyName {
  return (SECCOMP_POLICY_NAMES as readonly string[]).includes(name);
}
