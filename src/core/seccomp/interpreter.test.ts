import { describe, expect, it } from 'vitest';
import { unwrap } from '../errors.js';
import {
  BPF_A,
  BPF_ABS,
  BPF_ALU,
  BPF_IMM,
  BPF_JA,
  BPF_JEQ,
  BPF_JGE,
  BPF_JGT,
  BPF_JMP,
  BPF_JSET,
  BPF_K,
  BPF_LD,
  BPF_LDX,
  BPF_LEN,
  BPF_MEM,
  BPF_MISC,
  BPF_RET,
  BPF_ST,
  BPF_TXA,
  BPF_W,
  BPF_X,
  encodeProgram,
  type SockFilter,
} from './bpf.js';
import { checkProgram, runFilter, seccompDataBytes } from './interpreter.js';

const ins = (code: number, k = 0, jt = 0, jf = 0): SockFilter => ({ code, jt, jf, k });
const ld = (k: number): SockFilter => ins(BPF_LD | BPF_W | BPF_ABS, k);
const ret = (k: number): SockFilter => ins(BPF_RET | BPF_K, k);
const retA = ins(BPF_RET | BPF_A);
const data = {
  nr: 59,
  arch: 0xc000003e,
  instructionPointer: 0x1122_3344_5566_7788n,
  args: [0xaaaa_bbbb_cccc_ddddn, 7n],
};

function run(program: SockFilter[]): number {
  return runFilter(unwrap(checkProgram(encodeProgram(program))), data);
}

describe('runFilter', () => {
  it('loads the fields of seccomp_data at their offsets, little-endian', () => {
    expect(run([ld(0), retA])).toBe(59);
    expect(run([ld(4), retA])).toBe(0xc000003e);
    expect(run([ld(8), retA])).toBe(0x5566_7788);
    expect(run([ld(12), retA])).toBe(0x1122_3344);
    expect(run([ld(16), retA])).toBe(0xcccc_dddd);
    expect(run([ld(20), retA])).toBe(0xaaaa_bbbb);
    expect(run([ld(24), retA])).toBe(7);
    expect(run([ld(60), retA])).toBe(0);
    expect(seccompDataBytes(data).byteLength).toBe(64);
  });

  it('takes conditional jumps by unsigned comparison', () => {
    const jump = (op: number, k: number): number =>
      run([ld(16), ins(BPF_JMP | op | BPF_K, k, 1, 0), ret(0), ret(1)]);
    expect(jump(BPF_JEQ, 0xcccc_dddd)).toBe(1);
    expect(jump(BPF_JEQ, 0xcccc_ddde)).toBe(0);
    expect(jump(BPF_JGT, 0x7fff_ffff)).toBe(1); // 0xccccdddd is above it unsigned
    expect(jump(BPF_JGT, 0xcccc_dddd)).toBe(0);
    expect(jump(BPF_JGE, 0xcccc_dddd)).toBe(1);
    expect(jump(BPF_JSET, 0x1)).toBe(1);
    expect(jump(BPF_JSET, 0x2)).toBe(0);
  });

  it('jumps over instructions with ja, including with a 32-bit offset', () => {
    const filler = Array.from({ length: 300 }, () => ret(0xdead));
    expect(run([ins(BPF_JMP | BPF_JA, 300), ...filler, ret(42)])).toBe(42);
  });

  it('computes with the ALU on 32-bit unsigned values, X and scratch memory', () => {
    expect(run([ins(BPF_LD | BPF_IMM, 0xffff_ffff), ins(BPF_ALU | 0x00 | BPF_K, 2), retA])).toBe(1);
    expect(run([ins(BPF_LD | BPF_IMM, 1), ins(BPF_ALU | 0x10 | BPF_K, 2), retA])).toBe(0xffff_ffff);
    expect(run([ins(BPF_LD | BPF_IMM, 0x10000), ins(BPF_ALU | 0x20 | BPF_K, 0x10000), retA])).toBe(
      0,
    );
    expect(run([ins(BPF_LD | BPF_IMM, 7), ins(BPF_ALU | 0x30 | BPF_K, 2), retA])).toBe(3);
    expect(run([ins(BPF_LD | BPF_IMM, 0xf0), ins(BPF_ALU | 0x50 | BPF_K, 0x3c), retA])).toBe(0x30);
    expect(run([ins(BPF_LD | BPF_IMM, 1), ins(BPF_ALU | 0x60 | BPF_K, 31), retA])).toBe(
      0x8000_0000,
    );
    expect(run([ins(BPF_LD | BPF_IMM, 1), ins(BPF_ALU | 0x80), retA])).toBe(0xffff_ffff);
    expect(run([ins(BPF_LDX | BPF_IMM, 5), ins(BPF_MISC | BPF_TXA), retA])).toBe(5);
    expect(
      run([
        ins(BPF_LD | BPF_IMM, 9),
        ins(BPF_ST, 3),
        ins(BPF_LD | BPF_IMM, 0),
        ins(BPF_LD | BPF_MEM, 3),
        retA,
      ]),
    ).toBe(9);
    expect(run([ins(BPF_LD | BPF_W | BPF_LEN), retA])).toBe(64);
  });

  it('ends with 0 (kill) on a division by a zero X, as the kernel does', () => {
    expect(run([ins(BPF_LD | BPF_IMM, 7), ins(BPF_ALU | 0x30 | BPF_X), ret(1)])).toBe(0);
  });
});

describe('checkProgram', () => {
  it.each([
    ['an empty program', [], /1 to 4096 instructions/],
    ['a program over 4096 instructions', Array.from({ length: 4097 }, () => ret(0)), /got 4097/],
    ['an unaligned load', [ld(2), retA], /unaligned/],
    ['a load past seccomp_data', [ld(64), retA], /outside seccomp_data/],
    ['a jump past the end', [ins(BPF_JMP | BPF_JEQ | BPF_K, 0, 5, 0), ret(0)], /past the end/],
    ['a long jump past the end', [ins(BPF_JMP | BPF_JA, 1), ret(0)], /past the end/],
    ['MOD, which seccomp refuses', [ins(BPF_ALU | 0x90 | BPF_K, 3), retA], /not allowed/],
    ['a division by a zero constant', [ins(BPF_ALU | 0x30 | BPF_K, 0), retA], /division by zero/],
    ['a shift by 32', [ins(BPF_ALU | 0x60 | BPF_K, 32), retA], /shift/],
    ['scratch memory out of range', [ins(BPF_ST, 16), retA], /scratch/],
    ['no return at the end', [ld(0)], /last instruction/],
  ] as const)('rejects %s', (_what, program, message) => {
    const check = checkProgram(encodeProgram(program));
    expect(check).toMatchObject({ ok: false, code: 'INVALID_ARGUMENT' });
    if (!check.ok) expect(check.message).toMatch(message);
  });

  it('rejects bytes that are not whole instructions', () => {
    expect(() => checkProgram(new Uint8Array(12))).toThrow(/multiple of 8/);
  });
});
