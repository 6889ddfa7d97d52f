// Test support: small policies written inline, and their verdicts through the compiled program,
// checked against the reference evaluator on every call.
import { expect } from 'vitest';
import { unwrap } from '../errors.js';
import { describeRet } from './actions.js';
import { AUDIT_ARCH, syscallNumber, type SeccompArch } from './arch.js';
import type { SockFilter } from './bpf.js';
import { compilePolicy } from './compile.js';
import { evaluatePolicy } from './evaluate-policy.js';
import { checkProgram, runFilter } from './interpreter.js';
import { loadPolicy } from './load-policy.js';
import type { Policy, PolicyFile } from './policy.js';

type RuleFile = PolicyFile['rules'][number];
const reason = 'a reason for the test';

/** A policy from rules without reasons (each gets a stock one). */
export function testPolicy(
  rules: Omit<RuleFile, 'reason'>[],
  defaultAction: PolicyFile['defaultAction'] = 'allow',
): Policy {
  return unwrap(
    loadPolicy({
      name: 'test',
      defaultAction,
      defaultReason: reason,
      rules: rules.map((r) => ({ ...r, reason })),
    }),
  );
}

const cache = new WeakMap<Policy, Map<SeccompArch, SockFilter[]>>();
function compiled(p: Policy, arch: SeccompArch): SockFilter[] {
  const byArch = cache.get(p) ?? new Map<SeccompArch, SockFilter[]>();
  cache.set(p, byArch);
  let program = byArch.get(arch);
  if (program === undefined) {
    program = unwrap(checkProgram(compilePolicy(p, arch).bytes));
    byArch.set(arch, program);
  }
  return program;
}

/** The verdict of `p` compiled for `arch` on a call of `name`, as text ("allow", "errno(1)"…). */
export function verdict(
  p: Policy,
  arch: SeccompArch,
  name: string | number,
  args: bigint[] = [],
  auditArch = AUDIT_ARCH[arch],
): string {
  const program = compiled(p, arch);
  const nr = typeof name === 'number' ? name : syscallNumber(arch, name)!;
  const data = { nr, arch: auditArch, args };
  const ret = runFilter(program, data);
  expect(ret, 'compiled program and reference evaluator agree').toBe(
    evaluatePolicy(p, { arch, data }),
  );
  return describeRet(ret);
}
