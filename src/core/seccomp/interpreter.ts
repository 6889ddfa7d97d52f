import type { Check } from '../errors.js';
import {
  BPF_A,
  BPF_ABS,
  BPF_ADD,
  BPF_ALU,
  BPF_AND,
  BPF_DIV,
  BPF_JEQ,
  BPF_JGE,
  BPF_JGT,
  BPF_JSET,
  BPF_K,
  BPF_LSH,
  BPF_MOD,
  BPF_MUL,
  BPF_NEG,
  BPF_OR,
  BPF_RSH,
  BPF_SUB,
  BPF_TAX,
  BPF_XOR,
  BPF_IMM,
  BPF_JA,
  BPF_JMP,
  BPF_LD,
  BPF_LDX,
  BPF_LEN,
  BPF_MEM,
  BPF_MISC,
  BPF_RET,
  BPF_ST,
  BPF_STX,
  BPF_TXA,
  BPF_W,
  BPF_X,
  decodeProgram,
  MAX_INSTRUCTIONS,
  MEM_WORDS,
  type SockFilter,
} from './bpf.js';
import { SECCOMP_DATA } from './compare.js';

/** struct seccomp_data, as the kernel hands it to a filter. */
export interface SeccompData {
  nr: number;
  arch: number;
  instructionPointer?: bigint;
  /** Up to six u64 arguments; missing ones are 0. */
  args: readonly bigint[];
}

/** Opcodes seccomp accepts (kernel/seccomp.c seccomp_check_filter): no MOD, no packet loads. */
const ALLOWED = new Set<number>([
  BPF_LD | BPF_W | BPF_ABS,
  BPF_LD | BPF_W | BPF_LEN,
  BPF_LDX | BPF_W | BPF_LEN,
  BPF_LD | BPF_IMM,
  BPF_LDX | BPF_IMM,
  BPF_LD | BPF_MEM,
  BPF_LDX | BPF_MEM,
  BPF_ST,
  BPF_STX,
  BPF_MISC | BPF_TAX,
  BPF_MISC | BPF_TXA,
  BPF_RET | BPF_K,
  BPF_RET | BPF_A,
  BPF_JMP | BPF_JA,
  ...[BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_OR, BPF_AND, BPF_LSH, BPF_RSH, BPF_XOR].flatMap(
    (op) => [BPF_ALU | op | BPF_K, BPF_ALU | op | BPF_X],
  ),
  BPF_ALU | BPF_NEG,
  ...[BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET].flatMap((op) => [
    BPF_JMP | op | BPF_K,
    BPF_JMP | op | BPF_X,
  ]),
]);

/**
 * Checks a program the way the kernel does when it is loaded: length, known opcodes, aligned
 * in-bounds loads from seccomp_data, jumps inside the program, constant divisors and shifts in
 * range, and a return as the last instruction.
 */
export function checkProgram(input: Uint8Array | readonly SockFilter[]): Check<SockFilter[]> {
  const program = input instanceof Uint8Array ? decodeProgram(input) : [...input];
  const fail = (message: string): Check<never> => ({
    ok: false,
    code: 'INVALID_ARGUMENT',
    message,
  });
  if (program.length === 0 || program.length > MAX_INSTRUCTIONS) {
    return fail(`a filter has 1 to ${MAX_INSTRUCTIONS} instructions, got ${program.length}`);
  }
  for (const [pc, ins] of program.entries()) {
    const at = `instruction ${pc}`;
    if (!ALLOWED.has(ins.code)) return fail(`${at}: opcode 0x${ins.code.toString(16)} not allowed`);
    if (
      ins.code === (BPF_LD | BPF_W | BPF_ABS) &&
      (ins.k % 4 !== 0 || ins.k >= SECCOMP_DATA.size)
    ) {
      return fail(`${at}: load from offset ${ins.k} is outside seccomp_data or unaligned`);
    }
    const cls = ins.code & 0x07;
    const loadsMem = (cls === BPF_LD || cls === BPF_LDX) && (ins.code & 0xe0) === BPF_MEM;
    if ((cls === BPF_ST || cls === BPF_STX || loadsMem) && ins.k >= MEM_WORDS) {
      return fail(`${at}: scratch word ${ins.k} out of range`);
    }
    if (cls === BPF_ALU && !(ins.code & BPF_X)) {
      const op = ins.code & 0xf0;
      if (op === BPF_DIV && ins.k === 0) return fail(`${at}: division by zero`);
      if ((op === BPF_LSH || op === BPF_RSH) && ins.k >= 32)
        return fail(`${at}: shift by ${ins.k}`);
    }
    if (cls === BPF_JMP) {
      const far = (ins.code & 0xf0) === BPF_JA ? ins.k : Math.max(ins.jt, ins.jf);
      if (pc + 1 + far >= program.length) return fail(`${at}: jump past the end`);
    }
  }
  if ((program.at(-1)!.code & 0x07) !== BPF_RET)
    return fail('the last instruction is not a return');
  return { ok: true, value: program };
}

/** The bytes of seccomp_data: nr, arch, instruction_pointer, args[6], little-endian. */
export function seccompDataBytes(data: SeccompData): DataView {
  const view = new DataView(new ArrayBuffer(SECCOMP_DATA.size));
  view.setUint32(SECCOMP_DATA.nr, data.nr >>> 0, true);
  view.setUint32(SECCOMP_DATA.arch, data.arch >>> 0, true);
  view.setBigUint64(
    SECCOMP_DATA.instructionPointer,
    BigInt.asUintN(64, data.instructionPointer ?? 0n),
    true,
  );
  for (let i = 0; i < 6; i++) {
    view.setBigUint64(SECCOMP_DATA.args + 8 * i, BigInt.asUintN(64, data.args[i] ?? 0n), true);
  }
  return view;
}

/**
 * Runs a (checked) classic BPF seccomp program on `data`; returns the 32-bit SECCOMP_RET_*.
 * `path`, if given, receives the address of every instruction executed.
 */
export function runFilter(
  program: readonly SockFilter[],
  data: SeccompData | DataView,
  options: { path?: number[] } = {},
): number {
  const { path } = options;
  const view = data instanceof DataView ? data : seccompDataBytes(data);
  const mem = new Uint32Array(MEM_WORDS);
  let a = 0;
  let x = 0;
  for (let pc = 0; pc < program.length; pc++) {
    const { code, jt, jf, k } = program[pc]!;
    path?.push(pc);
    const src = code & BPF_X ? x : k;
    switch (code & 0x07) {
      case BPF_LD:
        a = loadValue(code, k, view, mem);
        break;
      case BPF_LDX:
        x = loadValue(code, k, view, mem);
        break;
      case BPF_ST:
        mem[k] = a;
        break;
      case BPF_STX:
        mem[k] = x;
        break;
      case BPF_ALU: {
        const result = aluResult(code & 0xf0, a, src);
        if (result === undefined) return 0; // division by zero ends the program with 0
        a = result;
        break;
      }
      case BPF_JMP: {
        const op = code & 0xf0;
        pc += op === BPF_JA ? k : jumpTaken(op, a, src) ? jt : jf;
        break;
      }
      case BPF_RET:
        return (code & BPF_A ? a : k) >>> 0;
      case BPF_MISC:
        if (code & BPF_TXA) a = x;
        else x = a;
        break;
    }
  }
  throw new RangeError('the program ran past its end (it was not checked)');
}

function loadValue(code: number, k: number, view: DataView, mem: Uint32Array): number {
  switch (code & 0xe0) {
    case BPF_ABS:
      return view.getUint32(k, true);
    case BPF_LEN:
      return SECCOMP_DATA.size;
    case BPF_MEM:
      return mem[k]!;
    default:
      return k >>> 0;
  }
}

/** One ALU operation on 32-bit unsigned values; undefined for a division by zero. */
export function aluResult(op: number, a: number, src: number): number | undefined {
  switch (op) {
    case BPF_ADD:
      return (a + src) >>> 0;
    case BPF_SUB:
      return (a - src) >>> 0;
    case BPF_MUL:
      return Math.imul(a, src) >>> 0;
    case BPF_DIV:
      return src === 0 ? undefined : Math.floor(a / src) >>> 0;
    case BPF_OR:
      return (a | src) >>> 0;
    case BPF_AND:
      return (a & src) >>> 0;
    case BPF_LSH:
      return src >= 32 ? 0 : (a << src) >>> 0;
    case BPF_RSH:
      return src >= 32 ? 0 : a >>> src;
    case BPF_NEG:
      return -a >>> 0;
    case BPF_XOR:
      return (a ^ src) >>> 0;
    case BPF_MOD: // classic BPF has it, seccomp refuses it (checkProgram)
      return src === 0 ? undefined : a % src;
    default:
      return undefined;
  }
}

/** Whether a conditional jump is taken (unsigned comparisons). */
export function jumpTaken(op: number, a: number, src: number): boolean {
  switch (op) {
    case BPF_JEQ:
      return a === src >>> 0;
    case BPF_JGT:
      return a > src >>> 0;
    case BPF_JGE:
      return a >= src >>> 0;
    case BPF_JSET:
      return (a & src) !== 0;
    default:
      return false;
  }
}
