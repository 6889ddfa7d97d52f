import { describe, expect, it } from 'vitest';
import { IronClawError, unwrap } from '../errors.js';
import { SECCOMP_RET } from './actions.js';
import { AUDIT_ARCH, SECCOMP_ARCHES, syscallNumber, type SeccompArch } from './arch.js';
import { BPF_JA, BPF_JMP, decodeProgram, MAX_INSTRUCTIONS } from './bpf.js';
import { compilePolicy } from './compile.js';
import { checkProgram, runFilter } from './interpreter.js';
import { testPolicy as policy, verdict } from './test-verdict.js';
import { X86_64_SYSCALLS as X86_NAMES } from './tables/x86_64.js';

describe.each(SECCOMP_ARCHES)('compilePolicy for %s', (arch) => {
  it('maps every action to its SECCOMP_RET value', () => {
    const p = policy([
      { syscalls: ['mount'], action: { errno: 'EPERM' } },
      { syscalls: ['bpf'], action: { errno: 38 } },
      { syscalls: ['ptrace'], action: 'kill-process' },
      { syscalls: ['setns'], action: 'trap' },
      { syscalls: ['unshare'], action: 'log' },
    ]);
    expect(verdict(p, arch, 'mount')).toBe('errno(1)');
    expect(verdict(p, arch, 'bpf')).toBe('errno(38)');
    expect(verdict(p, arch, 'ptrace')).toBe('kill-process');
    expect(verdict(p, arch, 'setns')).toBe('trap');
    expect(verdict(p, arch, 'unshare')).toBe('log');
    expect(verdict(p, arch, 'read')).toBe('allow');
    expect(verdict(p, arch, 0xfff)).toBe('allow');
  });

  it('applies a deny default to everything not allowed', () => {
    const p = policy([{ syscalls: ['read', 'write', 'exit_group'], action: 'allow' }], {
      errno: 'ENOSYS',
    });
    expect(verdict(p, arch, 'read')).toBe('allow');
    expect(verdict(p, arch, 'exit_group')).toBe('allow');
    expect(verdict(p, arch, 'openat')).toBe('errno(38)');
    expect(verdict(p, arch, 0)).toBe(arch === 'x86_64' ? 'allow' : 'errno(38)'); // read is 0 on x86_64
  });

  it('kills a syscall made under a foreign architecture', () => {
    const p = policy([], 'allow');
    for (const foreign of [0x40000003 /* i386 */, 0x40000028 /* arm */, 0, 0xffffffff]) {
      expect(verdict(p, arch, 'read', [], foreign)).toBe('kill-process');
    }
    const other = SECCOMP_ARCHES.find((a) => a !== arch)!;
    expect(verdict(p, arch, 'read', [], AUDIT_ARCH[other])).toBe('kill-process');
  });

  it('tries rules in order: the first whose comparisons all hold decides', () => {
    const p = policy(
      [
        {
          syscalls: ['prctl'],
          action: 'allow',
          args: [{ arg: 0, op: 'eq', value: 15, width: 32 }],
        },
        {
          syscalls: ['prctl'],
          action: { errno: 13 },
          args: [{ arg: 0, op: 'ge', value: 10, width: 32 }],
        },
        { syscalls: ['prctl'], action: 'trap' },
      ],
      { errno: 'EPERM' },
    );
    expect(verdict(p, arch, 'prctl', [15n])).toBe('allow');
    expect(verdict(p, arch, 'prctl', [16n])).toBe('errno(13)');
    expect(verdict(p, arch, 'prctl', [9n])).toBe('trap');
  });

  it('needs every comparison of a rule to hold', () => {
    const p = policy([
      {
        syscalls: ['socket'],
        action: { errno: 'EPERM' },
        args: [
          { arg: 0, op: 'eq', value: 2, width: 32 },
          { arg: 1, op: 'masked-eq', value: 3, mask: 15, width: 32 },
          { arg: 2, op: 'ne', value: 0, width: 32 },
        ],
      },
    ]);
    expect(verdict(p, arch, 'socket', [2n, 3n, 1n])).toBe('errno(1)');
    expect(verdict(p, arch, 'socket', [2n, 0x80803n, 255n])).toBe('errno(1)');
    expect(verdict(p, arch, 'socket', [2n, 3n, 0n])).toBe('allow');
    expect(verdict(p, arch, 'socket', [10n, 3n, 1n])).toBe('allow');
    expect(verdict(p, arch, 'socket', [2n, 1n, 1n])).toBe('allow');
  });
});

describe('x32 on x86_64', () => {
  const p = policy([{ syscalls: ['read'], action: 'allow' }], { errno: 'EPERM' });

  it('kills any number with the x32 bit, which shares AUDIT_ARCH_X86_64', () => {
    for (const nr of [
      0x40000000,
      0x40000000 + 1,
      0x40000000 + 512,
      0x4000_0000 + 0x1ff,
      0x7fffffff,
      0x80000000,
      0xfffffffe,
    ]) {
      expect(verdict(p, 'x86_64', nr)).toBe('kill-process');
    }
    expect(verdict(policy([]), 'x86_64', 0x40000000)).toBe('kill-process');
  });

  it('lets -1 (a tracer skipping the call) through to the default, as libseccomp does', () => {
    expect(verdict(p, 'x86_64', 0xffffffff)).toBe('errno(1)');
    expect(verdict(policy([]), 'x86_64', 0xffffffff)).toBe('allow');
  });

  it('has no such rule on aarch64', () => {
    expect(verdict(policy([]), 'aarch64', 0x40000000)).toBe('allow');
  });
});

describe('program shape', () => {
  it('starts by checking the architecture, then loads the number', () => {
    const { listing } = compilePolicy(policy([]), 'x86_64');
    expect(listing[0]).toMatch(/^0000: ld \[4\]/);
    expect(listing[1]).toMatch(/^0001: jeq #0xc000003e \? 2 : \d+/);
    expect(listing[2]).toMatch(/^0002: ld \[0\]/);
  });

  it('encodes struct sock_filter little-endian, 8 bytes each', () => {
    const { bytes, instructions } = compilePolicy(policy([]), 'aarch64');
    expect(bytes.length).toBe(instructions * 8);
    // ld [4] (seccomp_data.arch), then jeq #AUDIT_ARCH_AARCH64: code, jt, jf, k in host order.
    expect([...bytes.subarray(0, 8)]).toEqual([0x20, 0, 0, 0, 4, 0, 0, 0]);
    expect([...bytes.subarray(8, 10)]).toEqual([0x15, 0]);
    expect(bytes.readUInt32LE(12)).toBe(0xc00000b7);
  });

  it('dispatches by binary search: depth grows with log2 of the rules, not linearly', () => {
    const names = [
      'read',
      'write',
      'close',
      'openat',
      'mmap',
      'brk',
      'futex',
      'getpid',
      'kill',
      'fcntl',
    ];
    const p = policy(
      names.map((name) => ({ syscalls: [name], action: 'allow' as const })),
      { errno: 'EPERM' },
    );
    for (const arch of SECCOMP_ARCHES) {
      const program = decodeProgram(compilePolicy(p, arch).bytes);
      // 10 allowed numbers make at most ~21 ranges: a balanced search is ≤ 5 comparisons deep.
      for (const name of names) {
        expect(steps(program, arch, syscallNumber(arch, name)!)).toBeLessThanOrEqual(5 + 6);
      }
    }
  });

  it('merges runs of adjacent numbers with the same outcome into one range', () => {
    const numbers = Array.from({ length: 40 }, (_, i) => i);
    const names = numbers.map((nr) => Object.entries(X86_NAMES).find(([, n]) => n === nr)![0]);
    const p = policy([{ syscalls: names, action: { errno: 'EPERM' } }]);
    expect(compilePolicy(p, 'x86_64').instructions).toBeLessThan(12);
  });

  it('emits long jumps when a target is more than 255 instructions away, and stays correct', () => {
    // 200 syscalls with argument rules: the search sits in front of thousands of instructions.
    const names = Object.keys(X86_NAMES)
      .filter((n) => syscallNumber('aarch64', n) !== undefined)
      .slice(0, 200);
    const p = policy(
      names.map((name, i) => ({
        syscalls: [name],
        action: { errno: (i % 100) + 1 },
        args: [
          {
            arg: i % 6,
            op: 'eq' as const,
            value: `0x${(0x1_0000_0000 + i).toString(16)}`,
            width: 64 as const,
          },
        ],
      })),
    );
    for (const arch of SECCOMP_ARCHES) {
      const { bytes, instructions } = compilePolicy(p, arch);
      const program = unwrap(checkProgram(bytes));
      const longJumps = program.filter((ins) => ins.code === (BPF_JMP | BPF_JA) && ins.k > 255);
      expect(instructions).toBeGreaterThan(1000);
      expect(longJumps.length).toBeGreaterThan(0);
      names.forEach((name, i) => {
        const args = Array.from({ length: 6 }, () => 0n);
        args[i % 6] = 0x1_0000_0000n + BigInt(i);
        expect(verdict(p, arch, name, args)).toBe(`errno(${(i % 100) + 1})`);
        args[i % 6] = BigInt(i);
        expect(verdict(p, arch, name, args)).toBe('allow');
      });
    }
  });

  it('refuses a program longer than the kernel accepts, saying by how much', () => {
    const names = Object.keys(X86_NAMES).slice(0, 300);
    const args = [0, 1, 2, 3, 4, 5].map((arg) => ({
      arg,
      op: 'lt' as const,
      value: '0x100000000',
      width: 64 as const,
    }));
    const p = policy(names.map((name) => ({ syscalls: [name], action: 'trap' as const, args })));
    expect(() => compilePolicy(p, 'x86_64')).toThrow(IronClawError);
    expect(() => compilePolicy(p, 'x86_64')).toThrow(/compiles to \d+ instructions for x86_64/);
    try {
      compilePolicy(p, 'x86_64');
    } catch (error) {
      expect(error).toMatchObject({ code: 'POLICY_UNENFORCEABLE' });
      expect((error as Error).message).toContain(`at most ${MAX_INSTRUCTIONS}`);
    }
  });
});

/** Instructions executed to reach a return. */
function steps(program: ReturnType<typeof decodeProgram>, arch: SeccompArch, nr: number): number {
  const path: number[] = [];
  runFilter(program, { nr, arch: AUDIT_ARCH[arch], args: [] }, { path });
  return path.length;
}

it('SECCOMP_RET values are the kernel ABI', () => {
  expect(SECCOMP_RET).toMatchObject({
    KILL_PROCESS: 0x80000000,
    TRAP: 0x30000,
    ERRNO: 0x50000,
    LOG: 0x7ffc0000,
    ALLOW: 0x7fff0000,
  });
});
