// Test support: fast-check generators of seccomp policies and of the syscalls to judge them on,
// shared by the property tests beside the compiler and the libseccomp comparison in test/.
import fc from 'fast-check';
import { unwrap } from '../errors.js';
import { AUDIT_ARCH, syscallNumber, syscallsOf, type SeccompArch } from './arch.js';
import type { SeccompData } from './interpreter.js';
import { loadPolicy } from './load-policy.js';
import type { Policy, PolicyFile } from './policy.js';

type RuleFile = PolicyFile['rules'][number];
type ComparisonFile = NonNullable<RuleFile['args']>[number];
type ActionFile = PolicyFile['defaultAction'];

/** Names on both architectures, plus a few that only one has (skipped on the other). */
const NAMES = [
  ...['read', 'write', 'close', 'mmap', 'ioctl', 'socket', 'socketpair', 'clone', 'clone3'],
  ...['personality', 'prctl', 'mount', 'ptrace', 'unshare', 'setns', 'bpf', 'kill', 'openat'],
  ...['getpid', 'futex', 'madvise', 'fcntl', 'dup3', 'execve', 'wait4', 'io_uring_setup'],
  ...[
    'process_vm_readv',
    'keyctl',
    'pidfd_open',
    'memfd_create',
    'rseq',
    'set_mempolicy_home_node',
  ],
  ...['open', 'iopl', 'fork', 'renameat'],
];

const ACTIONS: ActionFile[] = [
  'allow',
  'log',
  'trap',
  'kill-process',
  { errno: 'EPERM' },
  { errno: 38 },
  { errno: 4094 }, // libseccomp 2.5 refuses 4095 (MAX_ERRNO), the kernel takes it
  { errno: 0 },
];
const actionArb = fc.constantFrom(...ACTIONS);

const U32 = 0xffffffffn;
const U64 = (1n << 64n) - 1n;
const hex = (n: bigint): string => `0x${n.toString(16)}`;

function valueArb(width: 32 | 64): fc.Arbitrary<bigint> {
  const max = width === 32 ? U32 : U64;
  return fc.oneof(
    fc.constantFrom(0n, 1n, 2n, 16n, 0x5412n, 0x7fffffffn, 0x80000000n, U32, max, max - 1n),
    fc.bigInt({ min: 0n, max: 64n }),
    fc.bigInt({ min: 0n, max }),
    ...(width === 64
      ? [fc.constantFrom(1n << 32n, (1n << 32n) + 16n, 1n << 63n, 0xffffffff00000000n)]
      : []),
  );
}

const comparisonArb = (arg: number): fc.Arbitrary<ComparisonFile> =>
  fc
    .record({
      op: fc.constantFrom('eq', 'ne', 'lt', 'le', 'gt', 'ge', 'masked-eq' as const),
      width: fc.constantFrom(32 as const, 64 as const),
    })
    .chain(({ op, width }) =>
      fc.tuple(valueArb(width), valueArb(width)).map(([value, mask]): ComparisonFile => {
        if (op !== 'masked-eq') return { arg, op, value: hex(value), width };
        return { arg, op, value: hex(value & mask), mask: hex(mask), width };
      }),
    );

/** Up to three comparisons; on distinct arguments if `distinct` (libseccomp wants one each). */
function argsArb(distinct: boolean): fc.Arbitrary<ComparisonFile[]> {
  // Arguments 0 and 1 are favoured so that rules often test one argument twice.
  const index = fc.oneof(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 5 }));
  const indexes = distinct
    ? fc.uniqueArray(index, { maxLength: 3 })
    : fc.array(index, { maxLength: 3 });
  return indexes.chain((args) => fc.tuple(...args.map(comparisonArb)));
}

export interface PolicyArbOptions {
  /**
   * Only policies that libseccomp can express the same way: one action per syscall, different
   * from the default, one comparison per argument, at most one 32-bit ordering comparison per
   * rule (it is expanded into masked-eq prefixes).
   */
  libseccomp?: boolean;
}

/** Random valid policies, normalised by loadPolicy. */
export function policyArb(options: PolicyArbOptions = {}): fc.Arbitrary<Policy> {
  const names = NAMES;
  const nameArb = fc.constantFrom(...names);
  const ruleArb = (actionOf: (name: string) => fc.Arbitrary<ActionFile>): fc.Arbitrary<RuleFile> =>
    fc
      .tuple(
        options.libseccomp
          ? nameArb.map((n) => [n])
          : fc.uniqueArray(nameArb, { minLength: 1, maxLength: 3 }),
        argsArb(options.libseccomp === true),
      )
      .chain(([syscalls, args]) =>
        actionOf(syscalls[0]!).map((action) => ({
          syscalls,
          action,
          args,
          reason: 'generated for a test',
        })),
      );
  return fc
    .tuple(actionArb, fc.array(actionArb, { minLength: names.length, maxLength: names.length }))
    .chain(([defaultAction, perName]) => {
      const fixed = (name: string): fc.Arbitrary<ActionFile> => {
        const action = perName[names.indexOf(name)]!;
        const differs = JSON.stringify(action) !== JSON.stringify(defaultAction);
        return fc.constant(differs ? action : defaultAction === 'trap' ? 'log' : 'trap');
      };
      return fc
        .array(ruleArb(options.libseccomp ? fixed : () => actionArb), {
          minLength: 1,
          maxLength: 24,
          size: 'max',
        })
        .map((rules) =>
          finish(
            defaultAction,
            options.libseccomp ? rules.filter((r) => libseccompFriendly(r)) : rules,
          ),
        );
    });
}

/** At most one 32-bit comparison that is not eq or masked-eq. */
function libseccompFriendly(rule: RuleFile): boolean {
  const ordering = (rule.args ?? []).filter(
    (c) => c.width === 32 && c.op !== 'eq' && c.op !== 'masked-eq',
  );
  return ordering.length <= 1;
}

/** Drops what loadPolicy rejects: names ruled after a rule that always applies to them. */
function finish(defaultAction: ActionFile, rules: RuleFile[]): Policy {
  const decided = new Set<string>();
  const kept: RuleFile[] = [];
  for (const rule of rules) {
    const syscalls = rule.syscalls.filter((name) => !decided.has(name));
    if (syscalls.length === 0) continue;
    if ((rule.args ?? []).length === 0) for (const name of syscalls) decided.add(name);
    kept.push({ ...rule, syscalls });
  }
  const file: PolicyFile = {
    name: 'generated',
    defaultAction,
    defaultReason: 'generated for a test',
    rules: kept,
  };
  return unwrap(loadPolicy(file));
}

/** Interesting argument values for `policy`: its operands, their neighbours, with upper garbage. */
function argPool(policy: Policy, arg: number): bigint[] {
  const pool = new Set<bigint>([0n, 1n, U32, 1n << 32n, U64]);
  for (const rule of policy.rules) {
    for (const cmp of rule.args) {
      if (cmp.arg !== arg) continue;
      for (const base of [cmp.value, cmp.value | ~cmp.mask, cmp.mask]) {
        for (const v of [base, base - 1n, base + 1n]) {
          const low = BigInt.asUintN(64, v);
          pool.add(low);
          pool.add(BigInt.asUintN(64, low | (0xdeadbeefn << 32n)));
          pool.add(BigInt.asUintN(64, low ^ (1n << 32n)));
          pool.add(BigInt.asUintN(32, low));
        }
      }
    }
  }
  return [...pool];
}

/** Random syscalls to judge `policy` on, mostly ones it has rules for, compiled for `arch`. */
export function seccompDataArb(policy: Policy, arch: SeccompArch): fc.Arbitrary<SeccompData> {
  const ruled = policy.rules
    .flatMap((r) => r.syscalls.map((n) => syscallNumber(arch, n)))
    .filter((n) => n !== undefined);
  const table = syscallsOf(arch).map(([, nr]) => nr);
  const nrArb = fc.oneof(
    {
      weight: 12,
      arbitrary: ruled.length > 0 ? fc.constantFrom(...ruled) : fc.constantFrom(...table),
    },
    { weight: 3, arbitrary: fc.constantFrom(...table) },
    { weight: 2, arbitrary: fc.integer({ min: 0, max: 1100 }) },
    { weight: 1, arbitrary: fc.integer({ min: 0x40000000, max: 0x40000400 }) },
    { weight: 1, arbitrary: fc.constantFrom(0xffffffff, 0x3fffffff, 0x7fffffff, 0x80000000) },
    { weight: 1, arbitrary: fc.nat({ max: 0xffffffff }) },
  );
  const archArb = fc.oneof(
    { weight: 12, arbitrary: fc.constant(AUDIT_ARCH[arch]) },
    { weight: 1, arbitrary: fc.constantFrom(...Object.values(AUDIT_ARCH), 0x40000003, 0x40000028) },
    { weight: 1, arbitrary: fc.nat({ max: 0xffffffff }) },
  );
  const argArb = (i: number): fc.Arbitrary<bigint> =>
    fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(...argPool(policy, i)) },
      { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: U64 }) },
    );
  return fc.record({
    nr: nrArb,
    arch: archArb,
    instructionPointer: fc.bigInt({ min: 0n, max: U64 }),
    args: fc.tuple(argArb(0), argArb(1), argArb(2), argArb(3), argArb(4), argArb(5)),
  });
}
