import { actionToRet, SECCOMP_RET } from './actions.js';
import {
  AUDIT_ARCH,
  SKIPPED_SYSCALL,
  syscallNumber,
  X32_SYSCALL_BIT,
  type SeccompArch,
} from './arch.js';
import type { SeccompData } from './interpreter.js';
import type { Comparison, Policy } from './policy.js';

/**
 * The verdict a policy intends for one syscall, computed straight from the policy data with no
 * BPF involved: the reference the compiled program is tested against. Returns SECCOMP_RET_*.
 */
export function evaluatePolicy(
  policy: Policy,
  call: { arch: SeccompArch; data: SeccompData },
): number {
  const { arch, data } = call;
  if (data.arch >>> 0 !== AUDIT_ARCH[arch]) return SECCOMP_RET.KILL_PROCESS;
  const nr = data.nr >>> 0;
  if (arch === 'x86_64' && nr >= X32_SYSCALL_BIT && nr !== SKIPPED_SYSCALL) {
    return SECCOMP_RET.KILL_PROCESS;
  }
  for (const rule of policy.rules) {
    if (!rule.syscalls.some((name) => syscallNumber(arch, name) === nr)) continue;
    if (rule.args.every((cmp) => holds(cmp, data.args[cmp.arg] ?? 0n))) {
      return actionToRet(rule.action);
    }
  }
  return actionToRet(policy.defaultAction);
}

/** Whether `cmp` holds for the raw 64-bit register value `raw`. */
export function holds(cmp: Comparison, raw: bigint): boolean {
  // A 32-bit comparison sees what the kernel sees: the low half of the register.
  const value = BigInt.asUintN(cmp.width, raw);
  switch (cmp.op) {
    case 'eq':
      return value === cmp.value;
    case 'ne':
      return value !== cmp.value;
    case 'lt':
      return value < cmp.value;
    case 'le':
      return value <= cmp.value;
    case 'gt':
      return value > cmp.value;
    case 'ge':
      return value >= cmp.value;
    case 'masked-eq':
      return (value & cmp.mask) === cmp.value;
  }
}
