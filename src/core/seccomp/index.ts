/** The seccomp compiler's public surface: policy data in, struct sock_filter bytes out. */
export { actionToRet, describeRet, type Action } from './actions.js';
export {
  SECCOMP_ARCHES,
  seccompArchOf,
  syscallName,
  syscallNumber,
  type SeccompArch,
} from './arch.js';
export { compilePolicy, type CompiledFilter } from './compile.js';
export {
  compilePolicyForHost,
  SANDBOX_POLICY_FILE,
  SECCOMP_POLICY_NAMES,
  seccompPolicyFile,
  type SeccompPolicyName,
} from './compile-for-host.js';
export { checkProgram, runFilter, type SeccompData } from './interpreter.js';
export { loadPolicy } from './load-policy.js';
export type { Policy, PolicyFile } from './policy.js';
export { filterStats, policyStats, type FilterStats } from './policy-stats.js';
