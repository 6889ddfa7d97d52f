import * as z from 'zod/mini';
import type { Check } from '../errors.js';
import { ERRNO_NAMES, type Action } from './actions.js';
import { isKnownSyscall } from './arch.js';
import {
  PolicyFileSchema,
  type Comparison,
  type Policy,
  type PolicyFile,
  type Rule,
} from './policy.js';

type ActionInput = PolicyFile['defaultAction'];
type ComparisonInput = NonNullable<PolicyFile['rules'][number]['args']>[number];

const ones = (width: 32 | 64): bigint => (1n << BigInt(width)) - 1n;

/**
 * Validates a parsed policy file (JSON already parsed, size already capped) and normalises it.
 * Beyond the schema it rejects what would silently not do what a reader expects: unknown syscall
 * names, operands wider than the stated width, masked-eq values with bits outside the mask, and
 * rules that can never apply because an earlier rule for the same syscall always does.
 */
export function loadPolicy(json: unknown, what = 'seccomp policy'): Check<Policy> {
  const parsed = z.safeParse(PolicyFileSchema, json);
  if (!parsed.success) {
    return invalid(what, parsed.error.issues.slice(0, 5).map(formatIssue).join('; '));
  }
  const file = parsed.data;
  const problems: string[] = [];
  const defaultAction = toAction(file.defaultAction, 'defaultAction', problems);
  const alwaysDecided = new Map<string, number>();
  const rules = file.rules.map((input, index): Rule => {
    const where = `rules.${index}`;
    const seen = new Set<string>();
    for (const name of input.syscalls) {
      if (!isKnownSyscall(name)) problems.push(`${where}: unknown syscall "${name}"`);
      if (seen.has(name)) problems.push(`${where}: "${name}" is listed twice`);
      seen.add(name);
      const earlier = alwaysDecided.get(name);
      if (earlier !== undefined) {
        problems.push(`${where}: never applies to "${name}": rules.${earlier} always decides it`);
      }
    }
    const args = (input.args ?? []).map((c, i) => toComparison(c, `${where}.args.${i}`, problems));
    if (args.length === 0) {
      for (const name of input.syscalls)
        if (!alwaysDecided.has(name)) alwaysDecided.set(name, index);
    }
    const action = toAction(input.action, `${where}.action`, problems);
    return { syscalls: input.syscalls, action, args, reason: input.reason };
  });
  if (problems.length > 0) {
    const more = problems.length > 5 ? ` (and ${problems.length - 5} more)` : '';
    return invalid(what, problems.slice(0, 5).join('; ') + more);
  }
  return {
    ok: true,
    value: {
      name: file.name,
      description: file.description,
      defaultAction,
      defaultReason: file.defaultReason,
      rules,
    },
  };
}

function toAction(input: ActionInput, where: string, problems: string[]): Action {
  if (typeof input === 'string') return { kind: input };
  if (typeof input.errno === 'number') return { kind: 'errno', errno: input.errno };
  const errno = ERRNO_NAMES[input.errno];
  if (errno === undefined) {
    const known = Object.keys(ERRNO_NAMES).join(', ');
    problems.push(
      `${where}: unknown errno name "${input.errno}" (use a number or one of ${known})`,
    );
    return { kind: 'errno', errno: 0 };
  }
  return { kind: 'errno', errno };
}

function toComparison(input: ComparisonInput, where: string, problems: string[]): Comparison {
  const value = BigInt(input.value);
  const limit = ones(input.width);
  if (value > limit)
    problems.push(`${where}: value ${input.value} is wider than ${input.width} bits`);
  let mask = limit;
  if (input.op === 'masked-eq') {
    if (input.mask === undefined) problems.push(`${where}: masked-eq needs a mask`);
    else mask = BigInt(input.mask);
    if (mask > limit)
      problems.push(`${where}: mask ${input.mask} is wider than ${input.width} bits`);
    if ((value & ~mask) !== 0n) {
      problems.push(`${where}: value has bits outside the mask, so the rule could never match`);
    }
  } else if (input.mask !== undefined) {
    problems.push(`${where}: a mask is only meaningful with op masked-eq`);
  }
  return { arg: input.arg, op: input.op, width: input.width, value, mask };
}

/** One issue in words: zod/mini ships no locale, so its own messages say only "Invalid input". */
function formatIssue(issue: z.core.$ZodIssue): string {
  const where = issue.path.length ? `${issue.path.join('.')}: ` : '';
  return where + describeIssue(issue);
}

function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${issue.expected}`;
    case 'unrecognized_keys':
      return `unknown field ${issue.keys.map((key) => JSON.stringify(key)).join(', ')}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map((value) => JSON.stringify(value)).join(', ')}`;
    case 'too_small':
      return `must be at least ${String(issue.minimum)}${issue.origin === 'number' ? '' : ' long'}`;
    case 'too_big':
      return `must be at most ${String(issue.maximum)}${issue.origin === 'number' ? '' : ' long'}`;
    case 'invalid_format':
      return issue.message !== 'Invalid input'
        ? issue.message
        : `does not match ${issue.pattern ?? issue.format}`;
    case 'invalid_union':
      return 'matches none of the allowed forms';
    case 'custom':
    case 'invalid_element':
    case 'invalid_key':
    case 'not_multiple_of':
      return issue.message;
  }
}

function invalid(what: string, detail: string): Check<never> {
  return { ok: false, code: 'INVALID_ARGUMENT', message: `invalid ${what}: ${detail}` };
}
