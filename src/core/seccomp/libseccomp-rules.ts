import type { Check } from '../errors.js';
import { actionToRet } from './actions.js';
import type { SeccompArch } from './arch.js';
import type { CompareOp, Comparison, Policy, Rule } from './policy.js';
import { planSyscalls } from './syscall-plan.js';

/** One argument comparison as libseccomp (and the OCI runtime spec) has it: always 64 bits. */
export interface LibseccompArg {
  index: number;
  op: CompareOp;
  /** The operand; for masked-eq, the mask (libseccomp's datum_a). */
  value: bigint;
  /** For masked-eq, the value `(arg & mask)` must equal (datum_b); otherwise 0. */
  valueTwo: bigint;
}

export interface LibseccompRule {
  syscall: string;
  action: number;
  args: LibseccompArg[];
}

/** A policy in libseccomp's rule model: one arch, a default, rules that are ORed per syscall. */
export interface LibseccompFilter {
  arch: SeccompArch;
  defaultAction: number;
  rules: LibseccompRule[];
}

const U32 = 0xffffffffn;
type Interval = readonly [lo: bigint, hi: bigint];

/**
 * Expresses `policy` for `arch` in libseccomp's model, for handing the same policy to
 * libseccomp-based tools (the libseccomp comparison tests, OCI runtimes). libseccomp compares all
 * 64 bits and allows one comparison per argument per rule, so 32-bit comparisons become unions
 * of masked-eq prefixes over the low word, and several 32-bit comparisons of one argument are
 * intersected first. Not expressible, and refused: rules with different actions for one syscall
 * (libseccomp does not try rules in order), and two comparisons of one argument where one is
 * 64 bits wide or a masked-eq.
 */
export function toLibseccompRules(policy: Policy, arch: SeccompArch): Check<LibseccompFilter> {
  const defaultAction = actionToRet(policy.defaultAction);
  const rules: LibseccompRule[] = [];
  for (const { name, rules: ruled } of planSyscalls(policy, arch)) {
    const actions = new Set(ruled.map((rule) => actionToRet(rule.action)));
    if (actions.size > 1) return refuse(`${name} has rules with different actions`);
    const action = actionToRet(ruled[0]!.action);
    if (action === defaultAction) continue; // libseccomp refuses such rules; they change nothing
    for (const rule of ruled) {
      const alternatives = expandRule(rule);
      if (!alternatives.ok) return refuse(`${name}: ${alternatives.message}`);
      for (const args of alternatives.value) rules.push({ syscall: name, action, args });
    }
  }
  return { ok: true, value: { arch, defaultAction, rules } };
}

/** The rule as a list of alternative comparison lists (any one matching means the rule does). */
function expandRule(rule: Rule): Check<LibseccompArg[][]> {
  const byArg = new Map<number, Comparison[]>();
  for (const cmp of rule.args) byArg.set(cmp.arg, [...(byArg.get(cmp.arg) ?? []), cmp]);
  let product: LibseccompArg[][] = [[]];
  for (const [index, cmps] of byArg) {
    const choices = expandArg(index, cmps);
    if (!choices.ok) return choices;
    product = product.flatMap((args) => choices.value.map((choice) => [...args, choice]));
  }
  return { ok: true, value: product };
}

function expandArg(index: number, cmps: readonly Comparison[]): Check<LibseccompArg[]> {
  const only = cmps.length === 1 ? cmps[0]! : undefined;
  if (only?.op === 'masked-eq') {
    return {
      ok: true,
      value: [{ index, op: 'masked-eq', value: only.mask, valueTwo: only.value }],
    };
  }
  if (only?.width === 64)
    return { ok: true, value: [{ index, op: only.op, value: only.value, valueTwo: 0n }] };
  let set: Interval[] = [[0n, U32]];
  for (const cmp of cmps) {
    if (cmp.width === 64 || cmp.op === 'masked-eq') {
      return refuse(`argument ${index} has several comparisons that cannot be intersected`);
    }
    set = intersect(set, intervals(cmp.op, cmp.value));
  }
  const value = set.flatMap(prefixes).map(([bits, mask]) => ({
    index,
    op: 'masked-eq' as const,
    value: mask,
    valueTwo: bits,
  }));
  return { ok: true, value };
}

/** The low-word values for which `word op operand` holds, as inclusive intervals. */
function intervals(op: Exclude<CompareOp, 'masked-eq'>, v: bigint): Interval[] {
  const below: Interval[] = v > 0n ? [[0n, v - 1n]] : [];
  const above: Interval[] = v < U32 ? [[v + 1n, U32]] : [];
  switch (op) {
    case 'eq':
      return [[v, v]];
    case 'ne':
      return [...below, ...above];
    case 'lt':
      return below;
    case 'le':
      return [[0n, v]];
    case 'gt':
      return above;
    case 'ge':
      return [[v, U32]];
  }
}

function intersect(a: readonly Interval[], b: readonly Interval[]): Interval[] {
  const out: Interval[] = [];
  for (const [alo, ahi] of a) {
    for (const [blo, bhi] of b) {
      const lo = alo > blo ? alo : blo;
      const hi = ahi < bhi ? ahi : bhi;
      if (lo <= hi) out.push([lo, hi]);
    }
  }
  return out;
}

/** [lo, hi] as the fewest (bits, mask) pairs with `(x & mask) == bits`, at most 62 of them. */
function prefixes([lo, hi]: Interval): [bits: bigint, mask: bigint][] {
  const out: [bigint, bigint][] = [];
  let start = lo;
  while (start <= hi) {
    let size = 1n;
    while (size <= U32 && start % (size * 2n) === 0n && start + size * 2n - 1n <= hi) size *= 2n;
    out.push([start, U32 & ~(size - 1n)]);
    start += size;
  }
  return out;
}

function refuse(message: string): Check<never> {
  return {
    ok: false,
    code: 'POLICY_UNENFORCEABLE',
    message: `not expressible in libseccomp: ${message}`,
  };
}
