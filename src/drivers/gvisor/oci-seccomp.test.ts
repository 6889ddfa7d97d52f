import { readFile } from 'node:fs/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { unwrap } from '../../core/errors.js';
import { describeRet, SECCOMP_RET, SECCOMP_RET_ACTION_FULL } from '../../core/seccomp/actions.js';
import {
  AUDIT_ARCH,
  SECCOMP_ARCHES,
  syscallName,
  syscallNumber,
  X32_SYSCALL_BIT,
  type SeccompArch,
} from '../../core/seccomp/arch.js';
import { SANDBOX_POLICY_FILE } from '../../core/seccomp/compile-for-host.js';
import { evaluatePolicy } from '../../core/seccomp/evaluate-policy.js';
import { loadPolicy } from '../../core/seccomp/load-policy.js';
import { policyArb, seccompDataArb } from '../../core/seccomp/policy-arbitrary.js';
import type { Policy, PolicyFile } from '../../core/seccomp/policy.js';
import { ociConfigJson, type OciSeccomp, type OciSeccompArg, ociSeccomp } from './oci-seccomp.js';

/*
 * Tiers one and two for the OCI rendering: tables on the shipped policy and generated policies,
 * both judged by a model of what runsc 20221219 builds from linux.seccomp
 * (runsc/specutils/seccomp/seccomp.go, pkg/seccomp), against the policy's own verdicts. Tier
 * three, the real sentry, is the shared driver suite (test/suites/seccomp-tests.ts).
 */

const SEED = 0x6715ecc;
const U64 = (1n << 64n) - 1n;

/**
 * runsc's verdict: entries in order, the first that matches decides; each comparison on all 64
 * bits; several comparisons of one argument in one entry are ORed ("legacy runc behaviour"),
 * otherwise ANDed; SCMP_ACT_ERRNO is always EPERM; SCMP_ACT_TRACE with no tracer is ENOSYS.
 */
function runscVerdict(oci: OciSeccomp, name: string | undefined, args: readonly bigint[]): string {
  for (const entry of oci.syscalls) {
    if (name === undefined || !entry.names.includes(name)) continue;
    const conds = entry.args ?? [];
    const indexes = conds.map((c) => c.index);
    const ored = new Set(indexes).size < indexes.length;
    const hold = (c: OciSeccompArg): boolean => holds64(c, args[c.index] ?? 0n);
    if (conds.length === 0 || (ored ? conds.some(hold) : conds.every(hold))) {
      return outcome(entry.action);
    }
  }
  return outcome(oci.defaultAction);
}

function holds64(c: OciSeccompArg, raw: bigint): boolean {
  const a = BigInt.asUintN(64, raw);
  const v = BigInt(c.value);
  switch (c.op) {
    case 'SCMP_CMP_EQ':
      return a === v;
    case 'SCMP_CMP_NE':
      return a !== v;
    case 'SCMP_CMP_LT':
      return a < v;
    case 'SCMP_CMP_LE':
      return a <= v;
    case 'SCMP_CMP_GT':
      return a > v;
    case 'SCMP_CMP_GE':
      return a >= v;
    case 'SCMP_CMP_MASKED_EQ':
      return (a & v) === BigInt(c.valueTwo);
  }
}

function outcome(action: OciSeccomp['defaultAction']): string {
  switch (action) {
    case 'SCMP_ACT_ALLOW':
      return 'allow';
    case 'SCMP_ACT_ERRNO':
      return 'errno(1)';
    case 'SCMP_ACT_TRACE':
      return 'errno(38)';
    case 'SCMP_ACT_KILL':
      return 'kill-thread';
    case 'SCMP_ACT_TRAP':
      return 'trap';
  }
}

/** What our policy's verdict looks like through runsc: the call is denied exactly when ours is. */
function throughRunsc(ret: number): string {
  const described = describeRet(ret);
  switch ((ret & SECCOMP_RET_ACTION_FULL) >>> 0) {
    case SECCOMP_RET.LOG:
      return 'allow';
    case SECCOMP_RET.KILL_PROCESS:
      return 'kill-thread';
    case SECCOMP_RET.ERRNO:
      return described === 'errno(38)' ? described : 'errno(1)';
    default:
      return described;
  }
}

const json: unknown = JSON.parse(await readFile(SANDBOX_POLICY_FILE, 'utf8'));
const sandbox = unwrap(loadPolicy(json, SANDBOX_POLICY_FILE));

describe.each(SECCOMP_ARCHES)('the sandbox policy for runsc on %s', (arch) => {
  const { seccomp, unconditional, conditional } = unwrap(ociSeccomp(sandbox, arch));
  const verdict = (name: string, ...args: bigint[]): string => {
    expect(syscallNumber(arch, name), name).toBeDefined();
    return runscVerdict(seccomp, name, args);
  };

  it('allows by default, for the native architecture, with one comparison per argument', () => {
    expect(seccomp.defaultAction).toBe('SCMP_ACT_ALLOW');
    expect(seccomp.architectures).toEqual([
      arch === 'x86_64' ? 'SCMP_ARCH_X86_64' : 'SCMP_ARCH_AARCH64',
    ]);
    for (const entry of seccomp.syscalls) {
      const indexes = (entry.args ?? []).map((arg) => arg.index);
      expect(new Set(indexes).size, entry.names.join()).toBe(indexes.length); // never ORed
    }
    expect(unconditional).toBeGreaterThan(40);
    expect(conditional).toBe(arch === 'x86_64' ? 7 : 6);
  });

  it('refuses what the issue names, with the errno bwrap boxes get', () => {
    expect(verdict('ptrace')).toBe('errno(1)');
    expect(verdict('perf_event_open')).toBe('errno(1)');
    expect(verdict('keyctl')).toBe('errno(1)');
    expect(verdict('bpf')).toBe('errno(1)');
    expect(verdict('unshare', 0x10000000n)).toBe('errno(1)');
    expect(verdict('io_uring_setup', 1n)).toBe('errno(38)');
    expect(verdict('clone3')).toBe('errno(38)');
    expect(verdict('mknodat', 0n, 0n, 0o20600n, 0x103n)).toBe('errno(1)');
    expect(verdict('mknodat', 0n, 0n, 0o10600n, 0n)).toBe('allow'); // a FIFO
  });

  it('writes ENOSYS as SCMP_ACT_TRACE (runsc ignores errnoRet) and EPERM with its errnoRet', () => {
    const entry = (name: string) => seccomp.syscalls.find((e) => e.names.includes(name));
    expect(entry('clone3')?.action).toBe('SCMP_ACT_TRACE');
    expect(entry('clone3')?.names.sort()).toEqual([
      'clone3',
      'io_uring_enter',
      'io_uring_register',
      'io_uring_setup',
    ]);
    expect(entry('ptrace')).toMatchObject({ action: 'SCMP_ACT_ERRNO', errnoRet: 1 });
  });

  it('judges 32-bit arguments by their low half, garbage in the upper half or not', () => {
    const garbage = 0xdead_beef_0000_0000n;
    expect(verdict('socket', garbage | 16n, 3n)).toBe('errno(1)'); // AF_NETLINK
    expect(verdict('socket', garbage | 5n, 1n)).toBe('errno(1)'); // inside [3, 9]
    expect(verdict('socket', garbage | 2n, 1n)).toBe('allow'); // AF_INET
    expect(verdict('socket', 2n, garbage | 3n)).toBe('errno(1)'); // SOCK_RAW
    expect(verdict('clone', garbage | 0x10000000n | 17n)).toBe('errno(1)');
    expect(verdict('clone', garbage | 0x3d0f00n)).toBe('allow');
    expect(verdict('mknodat', 0n, 0n, garbage | 0o60600n)).toBe('errno(1)');
  });

  it('gives every syscall of the table the policy’s verdict, on random arguments', () => {
    const numbers = Array.from({ length: 470 }, (_, nr) => nr);
    fc.assert(
      fc.property(
        fc.constantFrom(...numbers),
        fc.array(fc.bigInt({ min: 0n, max: U64 }), { minLength: 6, maxLength: 6 }),
        (nr, args) => {
          const data = { nr, arch: AUDIT_ARCH[arch], args };
          const want = throughRunsc(evaluatePolicy(sandbox, { arch, data }));
          expect(runscVerdict(seccomp, syscallName(arch, nr), args)).toBe(want);
        },
      ),
      { seed: SEED, numRuns: 5000 },
    );
  });
});

describe('ociSeccomp on generated policies', () => {
  // Any policy, and policies libseccomp could take with ptrace refused first (so that ENOSYS
  // can be rendered): most of those runsc can take too.
  const cases = SECCOMP_ARCHES.flatMap((arch) => [
    { arch, libseccomp: false, atLeast: 30 },
    { arch, libseccomp: true, atLeast: 250 },
  ]);
  it.each(cases)(
    'denies exactly what the policy denies, or refuses the policy ($arch, libseccomp-friendly: $libseccomp; 300 policies × 50 calls)',
    ({
      arch,
      libseccomp,
      atLeast,
    }: {
      arch: SeccompArch;
      libseccomp: boolean;
      atLeast: number;
    }) => {
      let rendered = 0;
      fc.assert(
        fc.property(
          policyArb({ libseccomp })
            .map((policy) => (libseccomp ? withPtraceRefused(policy) : policy))
            .chain((policy) =>
              fc.tuple(
                fc.constant(policy),
                fc.array(seccompDataArb(policy, arch), { minLength: 50, maxLength: 50 }),
              ),
            ),
          ([policy, calls]) => {
            const result = ociSeccomp(policy, arch);
            if (!result.ok) {
              expect(result.code).toBe('POLICY_UNENFORCEABLE');
              return;
            }
            rendered++;
            for (const data of calls) {
              // The sentry serves only its native ABI: other architectures and x32 never reach
              // a filter there, so they are not judged here.
              if (data.arch !== AUDIT_ARCH[arch] || data.nr >= X32_SYSCALL_BIT) continue;
              const want = throughRunsc(evaluatePolicy(policy, { arch, data }));
              const got = runscVerdict(result.value.seccomp, syscallName(arch, data.nr), data.args);
              expect([data.nr, data.args.map((a) => a.toString(16)), got]).toEqual([
                data.nr,
                data.args.map((a) => a.toString(16)),
                want,
              ]);
            }
          },
        ),
        { seed: SEED, numRuns: 300 },
      );
      console.log(`${arch}, libseccomp-friendly ${libseccomp}: ${rendered} of 300 rendered`);
      expect(rendered).toBeGreaterThanOrEqual(atLeast);
    },
  );
});

/** `policy` with ptrace refused (EPERM) before any other rule, and in no other rule. */
function withPtraceRefused(policy: Policy): Policy {
  const rules = policy.rules
    .map((rule) => ({ ...rule, syscalls: rule.syscalls.filter((name) => name !== 'ptrace') }))
    .filter((rule) => rule.syscalls.length > 0);
  const ptrace = {
    syscalls: ['ptrace'],
    action: { kind: 'errno' as const, errno: 1 },
    args: [],
    reason: 'refused first, for the test',
  };
  return { ...policy, rules: [ptrace, ...rules] };
}

describe('ociSeccomp refuses what runsc cannot be told', () => {
  const reason = 'a reason for the test';
  const policy = (file: Omit<PolicyFile, 'name' | 'defaultReason'>): Policy =>
    unwrap(loadPolicy({ name: 't', defaultReason: reason, ...file }));

  it('ENOSYS when ptrace is not refused to every caller (a tracer could pass the call)', () => {
    const enosys = { syscalls: ['clone3'], action: { errno: 'ENOSYS' }, reason };
    expect(ociSeccomp(policy({ defaultAction: 'allow', rules: [enosys] }), 'x86_64')).toMatchObject(
      { ok: false, code: 'POLICY_UNENFORCEABLE' },
    );
    const conditionalPtrace = {
      syscalls: ['ptrace'],
      action: { errno: 'EPERM' },
      args: [{ arg: 0, op: 'eq' as const, value: 16, width: 32 as const }],
      reason,
    };
    expect(
      ociSeccomp(policy({ defaultAction: 'allow', rules: [conditionalPtrace, enosys] }), 'x86_64'),
    ).toMatchObject({ ok: false, code: 'POLICY_UNENFORCEABLE' });
    const ptrace = { syscalls: ['ptrace'], action: { errno: 'EPERM' }, reason };
    expect(
      ociSeccomp(policy({ defaultAction: 'allow', rules: [ptrace, enosys] }), 'x86_64').ok,
    ).toBe(true);
  });
});

describe('ociConfigJson', () => {
  it('writes 64-bit operands as exact decimal digits', () => {
    const reason = 'a reason for the test';
    const rule = {
      syscalls: ['prctl'],
      action: { errno: 'EPERM' },
      args: [{ arg: 1, op: 'eq' as const, value: '0xffffffff00000001', width: 64 as const }],
      reason,
    };
    const policy = unwrap(
      loadPolicy({ name: 't', defaultReason: reason, defaultAction: 'allow', rules: [rule] }),
    );
    const { seccomp } = unwrap(ociSeccomp(policy, 'x86_64'));
    expect(ociConfigJson(seccomp.syscalls[0]?.args)).toBe(
      '[{"index":1,"value":18446744069414584321,"valueTwo":0,"op":"SCMP_CMP_EQ"}]',
    );
  });
});
