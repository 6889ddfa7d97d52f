import { describe, expect, it } from 'vitest';
import { SECCOMP_ARCHES } from './arch.js';
import { testPolicy as policy, verdict } from './test-verdict.js';

/** Each operator on the boundary values around its operand, 64 and 32 bits wide. */
describe('argument comparisons', () => {
  const HI = 1n << 32n;
  const cases: [op: string, width: 32 | 64, value: bigint, arg: bigint, expected: boolean][] = [
    // 64-bit: both halves count.
    ['eq', 64, 0x1_0000_0010n, 0x1_0000_0010n, true],
    ['eq', 64, 0x1_0000_0010n, 0x10n, false],
    ['eq', 64, 0x10n, 0x1_0000_0010n, false],
    ['eq', 64, 0x10n, 0x2_0000_0010n, false],
    ['ne', 64, 0x10n, 0x1_0000_0010n, true],
    ['ne', 64, 0x10n, 0x10n, false],
    ['gt', 64, 0x1_0000_0000n, 0xffff_ffffn, false],
    ['gt', 64, 0x1_0000_0000n, 0x1_0000_0001n, true],
    ['gt', 64, 0xffff_ffffn, 0x1_0000_0000n, true],
    ['gt', 64, 5n, 0x1_0000_0000n, true],
    ['gt', 64, 0x2_0000_0005n, 0x1_ffff_ffffn, false],
    ['ge', 64, 0x1_0000_0005n, 0x1_0000_0005n, true],
    ['ge', 64, 0x1_0000_0005n, 0x1_0000_0004n, false],
    ['ge', 64, 0x1_0000_0005n, 0x0_ffff_ffffn, false],
    ['lt', 64, 0x1_0000_0000n, 0xffff_ffffn, true],
    ['lt', 64, 0x1_0000_0000n, 0x1_0000_0000n, false],
    ['lt', 64, 5n, 0x1_0000_0004n, false],
    ['lt', 64, 0x2_0000_0000n, 0x1_ffff_ffffn, true],
    ['le', 64, 0x1_0000_0005n, 0x1_0000_0005n, true],
    ['le', 64, 0x1_0000_0005n, 0x1_0000_0006n, false],
    ['le', 64, 0x1_0000_0005n, 0x0_ffff_ffffn, true],
    ['le', 64, 0xffff_ffff_ffff_ffffn, 0xffff_ffff_ffff_ffffn, true],
    ['gt', 64, 0xffff_ffff_ffff_fffen, 0xffff_ffff_ffff_ffffn, true],
    // 32-bit: the upper half is the kernel's to ignore, and so is ours.
    ['eq', 32, 0x10n, 0x10n, true],
    ['eq', 32, 0x10n, 0xdead_beef_0000_0010n, true],
    ['eq', 32, 0x10n, 0x1_0000_0011n, false],
    ['ne', 32, 0x10n, HI | 0x10n, false],
    ['gt', 32, 10n, HI | 2n, false],
    ['gt', 32, 10n, HI | 11n, true],
    ['ge', 32, 10n, HI | 10n, true],
    ['lt', 32, 3n, HI | 2n, true],
    ['lt', 32, 3n, 0xffff_ffff_0000_0003n, false],
    ['le', 32, 0xffff_fffen, 0xffff_ffffn, false],
    ['le', 32, 0xffff_fffen, HI | 0xffff_fffen, true],
  ];
  it.each(cases)('%s %i-bit 0x%s', (op, width, value, arg, expected) => {
    const p = policy([
      {
        syscalls: ['personality'],
        action: { errno: 'EPERM' },
        args: [{ arg: 0, op: op as 'eq', value: `0x${value.toString(16)}`, width }],
      },
    ]);
    for (const arch of SECCOMP_ARCHES) {
      expect(verdict(p, arch, 'personality', [arg]), `${op} on 0x${arg.toString(16)}`).toBe(
        expected ? 'errno(1)' : 'allow',
      );
    }
  });

  it.each([
    [
      '64-bit mask spanning both halves',
      64,
      '0xff000000000000ff',
      '0x1200000000000034',
      0x12ab_cdef_0000_0034n,
      true,
    ],
    [
      '64-bit mask spanning both halves, high half differs',
      64,
      '0xff000000000000ff',
      '0x1200000000000034',
      0x13ab_cdef_0000_0034n,
      false,
    ],
    [
      '64-bit mask of the high half only',
      64,
      '0xffff00000000',
      '0x100000000',
      0x1_dead_beefn,
      true,
    ],
    [
      '64-bit mask of the low half only ignores the high half',
      64,
      '0xf',
      '0x3',
      0xffff_ffff_0000_0803n,
      true,
    ],
    ['32-bit mask', 32, '0x10000000', '0x10000000', 0xffff_ffff_1000_0000n, true],
    ['32-bit mask, bit clear', 32, '0x10000000', '0x10000000', 0xffff_ffff_0fff_ffffn, false],
  ] as const)('masked-eq: %s', (_what, width, mask, value, arg, expected) => {
    const p = policy([
      {
        syscalls: ['clone'],
        action: 'trap',
        args: [{ arg: 0, op: 'masked-eq', mask, value, width }],
      },
    ]);
    for (const arch of SECCOMP_ARCHES) {
      expect(verdict(p, arch, 'clone', [arg])).toBe(expected ? 'trap' : 'allow');
    }
  });

  it('tests one argument several times in one rule, reloading it after a mask', () => {
    const p = policy([
      {
        syscalls: ['prctl'],
        action: 'trap',
        args: [
          { arg: 0, op: 'masked-eq', mask: 0xf0, value: 0x10, width: 32 },
          { arg: 0, op: 'ge', value: 0x111, width: 32 },
          { arg: 0, op: 'le', value: 0x1ff, width: 32 },
          { arg: 0, op: 'ne', value: 0x115, width: 32 },
        ],
      },
    ]);
    for (const arch of SECCOMP_ARCHES) {
      expect(verdict(p, arch, 'prctl', [0x112n])).toBe('trap');
      expect(verdict(p, arch, 'prctl', [0x1_0000_0112n])).toBe('trap');
      expect(verdict(p, arch, 'prctl', [0x115n])).toBe('allow');
      expect(verdict(p, arch, 'prctl', [0x110n])).toBe('allow');
      expect(verdict(p, arch, 'prctl', [0x212n])).toBe('allow');
      expect(verdict(p, arch, 'prctl', [0x122n])).toBe('allow');
    }
  });

  it('reads each of the six arguments from its own slot', () => {
    for (let arg = 0; arg < 6; arg++) {
      const p = policy([
        {
          syscalls: ['prctl'],
          action: 'trap',
          args: [{ arg, op: 'eq', value: '0x1122334455667788', width: 64 }],
        },
      ]);
      const args = Array.from({ length: 6 }, (_, i) => (i === arg ? 0x1122334455667788n : 0n));
      expect(verdict(p, 'x86_64', 'prctl', args)).toBe('trap');
      expect(
        verdict(
          p,
          'x86_64',
          'prctl',
          args.map((v) => v ^ 1n),
        ),
      ).toBe('allow');
    }
  });
});
