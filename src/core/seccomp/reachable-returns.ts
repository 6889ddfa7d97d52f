import {
  BPF_A,
  BPF_ABS,
  BPF_ALU,
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
  BPF_X,
  MEM_WORDS,
  type SockFilter,
} from './bpf.js';
import { SECCOMP_DATA } from './compare.js';
import { aluResult, jumpTaken } from './interpreter.js';

/** A register value: known, or undefined when it depends on the syscall's arguments. */
type Value = number | undefined;

interface State {
  pc: number;
  a: Value;
  x: Value;
  mem: readonly Value[];
}

/**
 * Every value a (checked) program can return for syscall `nr` under `auditArch`, whatever
 * the arguments and instruction pointer are. Loads of nr and arch are known; loads of anything
 * else are unknown, and a jump on an unknown value follows both ways. One value means the
 * outcome does not depend on the arguments; several mean it does (an argument rule).
 */
export function reachableReturns(
  program: readonly SockFilter[],
  call: { auditArch: number; nr: number },
): Set<number> {
  const { auditArch: arch, nr } = call;
  const returns = new Set<number>();
  const seen = new Set<string>();
  const stack: State[] = [{ pc: 0, a: 0, x: 0, mem: new Array<Value>(MEM_WORDS).fill(0) }];
  while (stack.length > 0) {
    const state = stack.pop()!;
    const key = `${state.pc}|${state.a}|${state.x}|${state.mem.join(',')}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const ins = program[state.pc];
    if (ins === undefined)
      throw new RangeError('the program ran past its end (it was not checked)');
    const next = { ...state, pc: state.pc + 1 };
    const src = ins.code & BPF_X ? state.x : ins.k;
    switch (ins.code & 0x07) {
      case BPF_LD:
        stack.push({ ...next, a: load(ins, state, arch, nr) });
        break;
      case BPF_LDX:
        stack.push({ ...next, x: load(ins, state, arch, nr) });
        break;
      case BPF_ST:
      case BPF_STX: {
        const mem = [...state.mem];
        mem[ins.k] = (ins.code & 0x07) === BPF_ST ? state.a : state.x;
        stack.push({ ...next, mem });
        break;
      }
      case BPF_ALU: {
        if (state.a === undefined || src === undefined) {
          stack.push({ ...next, a: undefined });
          break;
        }
        const a = aluResult(ins.code & 0xf0, state.a, src);
        if (a === undefined)
          returns.add(0); // division by zero ends the program with 0
        else stack.push({ ...next, a });
        break;
      }
      case BPF_JMP: {
        const op = ins.code & 0xf0;
        if (op === BPF_JA) {
          stack.push({ ...state, pc: state.pc + 1 + ins.k });
          break;
        }
        const outcome =
          state.a === undefined || src === undefined ? undefined : jumpTaken(op, state.a, src);
        if (outcome !== false) stack.push({ ...state, pc: state.pc + 1 + ins.jt });
        if (outcome !== true) stack.push({ ...state, pc: state.pc + 1 + ins.jf });
        break;
      }
      case BPF_RET: {
        const value = ins.code & BPF_A ? state.a : ins.k;
        if (value === undefined) throw new RangeError('the program returns a value it computed');
        returns.add(value >>> 0);
        break;
      }
      case BPF_MISC:
        stack.push(ins.code & BPF_TXA ? { ...next, a: state.x } : { ...next, x: state.a });
        break;
    }
  }
  return returns;
}

function load(ins: SockFilter, state: State, arch: number, nr: number): Value {
  switch (ins.code & 0xe0) {
    case BPF_ABS:
      if (ins.k === SECCOMP_DATA.nr) return nr >>> 0;
      if (ins.k === SECCOMP_DATA.arch) return arch >>> 0;
      return undefined;
    case BPF_LEN:
      return SECCOMP_DATA.size;
    case BPF_MEM:
      return state.mem[ins.k];
    default:
      return ins.k >>> 0;
  }
}
