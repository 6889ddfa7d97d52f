import {
  BPF_ABS,
  BPF_ALU,
  BPF_AND,
  BPF_JEQ,
  BPF_JGE,
  BPF_JGT,
  BPF_JMP,
  BPF_K,
  BPF_LD,
  BPF_W,
} from './bpf.js';
import type { BackwardEmitter, Target } from './emitter.js';
import type { Comparison } from './policy.js';

/** Offsets in struct seccomp_data: nr, arch, instruction_pointer, then args[6] as u64. */
export const SECCOMP_DATA = { nr: 0, arch: 4, instructionPointer: 8, args: 16, size: 64 } as const;

const LOAD = BPF_LD | BPF_W | BPF_ABS;
const JEQ = BPF_JMP | BPF_JEQ | BPF_K;
const JGT = BPF_JMP | BPF_JGT | BPF_K;
const JGE = BPF_JMP | BPF_JGE | BPF_K;
const AND = BPF_ALU | BPF_AND | BPF_K;
const WORD = 0xffffffffn;

/** Byte offset of the low (half = 0) or high (half = 1) 32 bits of argument `arg`. */
export function argWordOffset(arg: number, half: 0 | 1): number {
  // seccomp_data is in the task's byte order; both our architectures are little-endian.
  return SECCOMP_DATA.args + 8 * arg + 4 * half;
}

/** True if `cmp` reaches its pass target with its argument's low word, unchanged, in A. */
export function leavesLowWord(cmp: Comparison): boolean {
  return cmp.width === 32 && cmp.op !== 'masked-eq';
}

/**
 * Emits the test of one comparison; control goes to `pass` if it holds and `fail` if not.
 * Returns the target of its first instruction.
 *
 * BPF registers are 32 bits, so a 64-bit unsigned comparison is done on the high word first and
 * decided there unless the high words are equal, then on the low word. A 32-bit comparison tests
 * only the low word: the kernel truncates such arguments, so the filter must judge exactly the
 * value the kernel will use, whatever the upper half of the register holds. `loaded` says that A
 * already holds the argument's low word whenever control arrives (see {@link leavesLowWord}).
 */
export function emitComparison(
  em: BackwardEmitter,
  cmp: Comparison,
  targets: { pass: Target; fail: Target; comment: string; loaded?: boolean },
): Target {
  const { pass, fail, comment, loaded = false } = targets;
  const lo = Number(cmp.value & WORD);
  const hi = Number(cmp.value >> 32n);
  const maskLo = Number(cmp.mask & WORD);
  const maskHi = Number(cmp.mask >> 32n);
  const name = `a${cmp.arg}`;
  const load = (half: 0 | 1, next: Target): Target => {
    const word = half === 0 ? 'lo32' : 'hi32';
    em.resolve(next);
    return {
      label: em.emit(
        { code: LOAD, jt: 0, jf: 0, k: argWordOffset(cmp.arg, half) },
        `${comment}: load ${name}.${word}`,
      ),
    };
  };
  const test = (code: number, k: number, t: Target, f: Target, what: string): Target => ({
    label: em.jump(code, k, { ifTrue: t, ifFalse: f, comment: `${comment}: ${what}` }),
  });
  const hex = (n: number): string => `0x${n.toString(16)}`;

  // Low word: the comparison proper (all that a 32-bit comparison does).
  let low: Target;
  switch (cmp.op) {
    case 'eq':
      low = test(JEQ, lo, pass, fail, `${name}.lo32 == ${hex(lo)}`);
      break;
    case 'ne':
      low = test(JEQ, lo, fail, pass, `${name}.lo32 != ${hex(lo)}`);
      break;
    case 'gt':
      low = test(JGT, lo, pass, fail, `${name}.lo32 > ${hex(lo)}`);
      break;
    case 'ge':
      low = test(JGE, lo, pass, fail, `${name}.lo32 >= ${hex(lo)}`);
      break;
    case 'lt':
      low = test(JGE, lo, fail, pass, `${name}.lo32 < ${hex(lo)}`);
      break;
    case 'le':
      low = test(JGT, lo, fail, pass, `${name}.lo32 <= ${hex(lo)}`);
      break;
    case 'masked-eq': {
      if (maskLo === 0) {
        low = pass; // (lo & 0) == 0 always holds; the value has no bits outside the mask
        break;
      }
      low = test(JEQ, lo, pass, fail, `(${name}.lo32 & ${hex(maskLo)}) == ${hex(lo)}`);
      if (maskLo !== 0xffffffff) {
        em.resolve(low);
        low = { label: em.emit({ code: AND, jt: 0, jf: 0, k: maskLo }, `${comment}: mask`) };
      }
      break;
    }
  }
  if (low !== pass && !(loaded && cmp.width === 32)) low = load(0, low);
  if (cmp.width === 32) return low;

  // High word of a 64-bit comparison: decides unless equal, in which case the low word decides.
  switch (cmp.op) {
    case 'eq':
      return load(1, test(JEQ, hi, low, fail, `${name}.hi32 == ${hex(hi)}`));
    case 'ne':
      return load(1, test(JEQ, hi, low, pass, `${name}.hi32 == ${hex(hi)}, else differs`));
    case 'gt':
    case 'ge': {
      const equal = test(JEQ, hi, low, fail, `${name}.hi32 == ${hex(hi)}, else below`);
      return load(1, test(JGT, hi, pass, equal, `${name}.hi32 > ${hex(hi)}`));
    }
    case 'lt':
    case 'le': {
      const equal = test(JEQ, hi, low, pass, `${name}.hi32 == ${hex(hi)}, else below`);
      return load(1, test(JGT, hi, fail, equal, `${name}.hi32 > ${hex(hi)}`));
    }
    case 'masked-eq': {
      if (maskHi === 0) return low; // (hi & 0) == 0 always holds
      let high = test(JEQ, hi, low, fail, `(${name}.hi32 & ${hex(maskHi)}) == ${hex(hi)}`);
      if (maskHi !== 0xffffffff) {
        em.resolve(high);
        high = { label: em.emit({ code: AND, jt: 0, jf: 0, k: maskHi }, `${comment}: mask`) };
      }
      return load(1, high);
    }
  }
}
