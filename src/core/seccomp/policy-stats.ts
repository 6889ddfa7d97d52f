import { unwrap } from '../errors.js';
import { describeRet, retAllows } from './actions.js';
import { AUDIT_ARCH, syscallsOf, type SeccompArch } from './arch.js';
import { compilePolicy } from './compile.js';
import { checkProgram } from './interpreter.js';
import type { Policy } from './policy.js';
import { reachableReturns } from './reachable-returns.js';

/** What a compiled filter does with each syscall of one architecture's table. */
export interface FilterStats {
  arch: SeccompArch;
  /** Syscalls in the architecture's table. */
  total: number;
  /** Always allowed (allow or log), whatever the arguments. */
  allowed: number;
  /** Always refused (errno, trap or kill), whatever the arguments. */
  denied: number;
  /** The outcome depends on the arguments. */
  conditional: number;
  /** Unconditional outcomes, counted by outcome: `{ allow: 290, 'errno(1)': 40, … }`. */
  byOutcome: Record<string, number>;
  deniedSyscalls: string[];
  conditionalSyscalls: string[];
}

/**
 * Counts, from the compiled program itself rather than from the policy text, how many syscalls
 * of `arch` are allowed, denied, or decided by their arguments: every table entry is run through
 * a symbolic execution of the program with the arguments left unknown.
 */
export function filterStats(bytes: Uint8Array, arch: SeccompArch): FilterStats {
  const program = unwrap(checkProgram(bytes));
  const stats: FilterStats = {
    arch,
    total: 0,
    allowed: 0,
    denied: 0,
    conditional: 0,
    byOutcome: {},
    deniedSyscalls: [],
    conditionalSyscalls: [],
  };
  for (const [name, nr] of syscallsOf(arch)) {
    stats.total++;
    const returns = [...reachableReturns(program, { auditArch: AUDIT_ARCH[arch], nr })];
    if (returns.length !== 1) {
      stats.conditional++;
      stats.conditionalSyscalls.push(name);
      continue;
    }
    const outcome = describeRet(returns[0]!);
    stats.byOutcome[outcome] = (stats.byOutcome[outcome] ?? 0) + 1;
    if (retAllows(returns[0]!)) {
      stats.allowed++;
    } else {
      stats.denied++;
      stats.deniedSyscalls.push(name);
    }
  }
  return stats;
}

/** {@link filterStats} of `policy` compiled for `arch`. */
export function policyStats(policy: Policy, arch: SeccompArch): FilterStats {
  return filterStats(compilePolicy(policy, arch).bytes, arch);
}
