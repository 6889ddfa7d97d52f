import { toIronClawError, type Check } from '../errors.js';
import { seccompArchOf } from './arch.js';
import { compilePolicy, type CompiledFilter } from './compile.js';
import { loadPolicy } from './load-policy.js';

/**
 * The default profile of sandboxed processes, relative to the package root (package.json ships
 * `policies/`). The host reads it; src/core never touches files.
 */
export const SANDBOX_POLICY_FILE = 'policies/seccomp/sandbox.json';

/**
 * Every policy the build compiles: the sandbox's deny-list, and the allow-lists of the VMMs
 * (QEMU's derived by tracing it, scripts/trace-vmm.mjs; Firecracker's from its upstream filters).
 */
export const SECCOMP_POLICY_NAMES = ['sandbox', 'vmm-qemu', 'vmm-firecracker'] as const;
export type SeccompPolicyName = (typeof SECCOMP_POLICY_NAMES)[number];

/** The file of a policy, relative to the package root. */
export function seccompPolicyFile(name: SeccompPolicyName): string {
  return `policies/seccomp/${name}.json`;
}

/**
 * Validates a parsed policy file and compiles it for the host's architecture (`process.arch`).
 * Fails closed: an unsupported architecture, an invalid policy or a program too long for the
 * kernel is a failure with a message that says which, never an empty filter.
 */
export function compilePolicyForHost(
  json: unknown,
  options: { nodeArch: string; what?: string },
): Check<CompiledFilter> {
  const what = options.what ?? 'seccomp policy';
  const arch = seccompArchOf(options.nodeArch);
  if (arch === undefined) {
    return {
      ok: false,
      code: 'POLICY_UNENFORCEABLE',
      message: `no seccomp filter for CPU architecture "${options.nodeArch}": only x64 and arm64 are supported`,
    };
  }
  const policy = loadPolicy(json, what);
  if (!policy.ok) return policy;
  try {
    return { ok: true, value: compilePolicy(policy.value, arch) };
  } catch (error) {
    const failure = toIronClawError(error, 'POLICY_UNENFORCEABLE');
    return { ok: false, code: failure.code, message: failure.message };
  }
}
