import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { unwrap } from '../errors.js';
import { holds } from './evaluate-policy.js';
import { toLibseccompRules, type LibseccompArg } from './libseccomp-rules.js';
import { loadPolicy } from './load-policy.js';
import type { PolicyFile } from './policy.js';

const reason = 'a reason for the test';
const policy = (rules: Omit<PolicyFile['rules'][number], 'reason'>[]) =>
  unwrap(
    loadPolicy({
      name: 't',
      defaultAction: 'allow',
      defaultReason: reason,
      rules: rules.map((r) => ({ ...r, reason })),
    }),
  );

/** libseccomp's semantics of one comparison: always on all 64 bits. */
function libseccompHolds(arg: LibseccompArg, raw: bigint): boolean {
  const cmp =
    arg.op === 'masked-eq'
      ? { arg: arg.index, op: arg.op, width: 64 as const, value: arg.valueTwo, mask: arg.value }
      : {
          arg: arg.index,
          op: arg.op,
          width: 64 as const,
          value: arg.value,
          mask: (1n << 64n) - 1n,
        };
  return holds(cmp, raw);
}

describe('toLibseccompRules', () => {
  it('turns 32-bit comparisons into masked-eq prefixes that ignore the upper half', () => {
    const ops = ['eq', 'ne', 'lt', 'le', 'gt', 'ge'] as const;
    fc.assert(
      fc.property(
        fc.constantFrom(...ops),
        fc.nat({ max: 0xffffffff }),
        fc.array(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), { minLength: 20, maxLength: 20 }),
        (op, value, samples) => {
          const p = policy([
            { syscalls: ['prctl'], action: 'trap', args: [{ arg: 0, op, value, width: 32 }] },
          ]);
          const { rules } = unwrap(toLibseccompRules(p, 'x86_64'));
          expect(rules.length).toBeLessThanOrEqual(62);
          const cmp = p.rules[0]!.args[0]!;
          for (const raw of [
            ...samples,
            BigInt(value),
            BigInt(value) + 1n,
            BigInt(value) - 1n,
            BigInt(value) | (7n << 32n),
          ]) {
            const x = BigInt.asUintN(64, raw);
            const theirs = rules.some((rule) => rule.args.every((a) => libseccompHolds(a, x)));
            expect(theirs).toBe(holds(cmp, x));
          }
        },
      ),
      { seed: 42, numRuns: 500 },
    );
  });

  it('intersects several 32-bit comparisons of one argument', () => {
    const p = policy([
      {
        syscalls: ['personality'],
        action: 'trap',
        args: [
          { arg: 0, op: 'ge', value: 9, width: 32 },
          { arg: 0, op: 'le', value: 15, width: 32 },
        ],
      },
    ]);
    const { rules } = unwrap(toLibseccompRules(p, 'aarch64'));
    expect(rules.map((r) => r.args.map((a) => [a.value, a.valueTwo]))).toEqual([
      [[0xffffffffn, 9n]],
      [[0xfffffffen, 10n]],
      [[0xfffffffcn, 12n]],
    ]);
  });

  it('keeps 64-bit comparisons as they are and drops rules that equal the default', () => {
    const p = policy([
      {
        syscalls: ['prctl'],
        action: 'trap',
        args: [{ arg: 1, op: 'gt', value: '0x100000000', width: 64 }],
      },
      { syscalls: ['read'], action: 'allow', args: [{ arg: 0, op: 'eq', value: 0, width: 64 }] },
    ]);
    expect(unwrap(toLibseccompRules(p, 'x86_64')).rules).toEqual([
      {
        syscall: 'prctl',
        action: 0x30000,
        args: [{ index: 1, op: 'gt', value: 0x100000000n, valueTwo: 0n }],
      },
    ]);
  });

  it('refuses what libseccomp cannot express', () => {
    const mixed = policy([
      { syscalls: ['prctl'], action: 'trap', args: [{ arg: 0, op: 'eq', value: 1, width: 32 }] },
      { syscalls: ['prctl'], action: 'log' },
    ]);
    const refused = toLibseccompRules(mixed, 'x86_64');
    expect(refused).toMatchObject({ ok: false, code: 'POLICY_UNENFORCEABLE' });
    expect(!refused.ok && refused.message).toMatch(/prctl has rules with different actions/);
    const twice = policy([
      {
        syscalls: ['prctl'],
        action: 'trap',
        args: [
          { arg: 0, op: 'gt', value: 1, width: 64 },
          { arg: 0, op: 'lt', value: 9, width: 64 },
        ],
      },
    ]);
    const alsoRefused = toLibseccompRules(twice, 'x86_64');
    expect(!alsoRefused.ok && alsoRefused.message).toMatch(/argument 0 has several comparisons/);
  });
});
