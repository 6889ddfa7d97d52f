import * as z from 'zod/mini';
import { MAX_ERRNO, type Action } from './actions.js';

/**
 * A seccomp policy as reviewed data (policies/seccomp/*.json). For each syscall its rules are
 * tried in file order; the first rule whose comparisons all hold decides; if none does, the
 * default action decides. A comparison states how many bits of the argument the kernel reads
 * (`width`): 32 for C `int`/`unsigned int` parameters, whose upper register half the kernel
 * ignores, so that garbage there can neither dodge nor trip a rule; 64 for `long`/pointers.
 */

const Reason = z.string().check(z.minLength(10), z.maxLength(1000));
const HEX_U64 = /^0x[0-9a-fA-F]{1,16}$/;

/** An unsigned integer: a JSON number up to 2^53-1, or a hex string for 64-bit values. */
export const ArgValueSchema = z.union([
  z.number().check(z.int(), z.gte(0), z.lte(Number.MAX_SAFE_INTEGER)),
  z.string().check(z.regex(HEX_U64, 'a hex string like "0x7fffffff"')),
]);

export const ActionSchema = z.union([
  z.enum(['allow', 'kill-process', 'trap', 'log']),
  z.strictObject({
    errno: z.union([z.number().check(z.int(), z.gte(0), z.lte(MAX_ERRNO)), z.string()]),
  }),
]);

export const COMPARE_OPS = ['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'masked-eq'] as const;
export type CompareOp = (typeof COMPARE_OPS)[number];

export const ComparisonSchema = z.strictObject({
  /** Syscall argument index, 0 to 5. */
  arg: z.number().check(z.int(), z.gte(0), z.lte(5)),
  op: z.enum(COMPARE_OPS),
  /** Unsigned comparison operand; for masked-eq, the value `(arg & mask)` must equal. */
  value: ArgValueSchema,
  /** Only for masked-eq. */
  mask: z.optional(ArgValueSchema),
  width: z.union([z.literal(32), z.literal(64)]),
});

export const RuleSchema = z.strictObject({
  syscalls: z.array(z.string().check(z.regex(/^[a-z0-9_]+$/))).check(z.minLength(1)),
  action: ActionSchema,
  /** All must hold for the rule to apply; none means the rule always applies. */
  args: z.optional(z.array(ComparisonSchema).check(z.maxLength(6))),
  /** Why this rule exists, for the reviewer: required on every rule. */
  reason: Reason,
});

/** How a derived policy was made (the VMM profiles): by what, from what, when. */
export const DerivationSchema = z.strictObject({
  /** The script or method, e.g. "scripts/trace-vmm.mjs (strace -f)". */
  by: z.string().check(z.minLength(1)),
  /** What it was derived from: the traced program's version, or the upstream file. */
  from: z.string().check(z.minLength(1)),
  date: z.string().check(z.regex(/^\d{4}-\d{2}-\d{2}$/)),
  notes: z.optional(z.string()),
});

export const PolicyFileSchema = z.strictObject({
  name: z.string().check(z.regex(/^[a-z0-9][a-z0-9-]{0,62}$/)),
  description: z.optional(z.string()),
  derivation: z.optional(DerivationSchema),
  defaultAction: ActionSchema,
  /** Why the default is what it is. */
  defaultReason: Reason,
  rules: z.array(RuleSchema).check(z.maxLength(2000)),
});
/** A policy file as written (JSON). */
export type PolicyFile = z.input<typeof PolicyFileSchema>;

/** One argument comparison, normalised: bigint operands, the mask spelt out. */
export interface Comparison {
  arg: number;
  op: CompareOp;
  width: 32 | 64;
  value: bigint;
  /** For masked-eq the given mask; otherwise all ones of `width`. */
  mask: bigint;
}

export interface Rule {
  syscalls: readonly string[];
  action: Action;
  args: readonly Comparison[];
  reason: string;
}

/** A validated policy, as the compiler and the reference evaluator take it. */
export interface Policy {
  name: string;
  description: string | undefined;
  defaultAction: Action;
  defaultReason: string;
  rules: readonly Rule[];
}
