import { IronClawError } from '../errors.js';
import { actionToRet, describeRet, SECCOMP_RET } from './actions.js';
import { AUDIT_ARCH, SKIPPED_SYSCALL, X32_SYSCALL_BIT, type SeccompArch } from './arch.js';
import {
  BPF_ABS,
  BPF_JEQ,
  BPF_JGE,
  BPF_JMP,
  BPF_K,
  BPF_LD,
  BPF_RET,
  BPF_W,
  encodeProgram,
  formatInstruction,
  MAX_INSTRUCTIONS,
} from './bpf.js';
import { emitComparison, leavesLowWord, SECCOMP_DATA } from './compare.js';
import { BackwardEmitter, type Target } from './emitter.js';
import type { Policy, Rule } from './policy.js';
import { numberRanges, planSyscalls, type NumberRange, type SyscallRules } from './syscall-plan.js';

/** A policy compiled for one architecture. */
export interface CompiledFilter {
  arch: SeccompArch;
  /** struct sock_filter[]: what `bwrap --seccomp FD` and seccomp(2) take. */
  bytes: Buffer;
  instructions: number;
  /** One line per instruction: address, instruction, and what it is for. */
  listing: string[];
}

const LOAD = BPF_LD | BPF_W | BPF_ABS;
const JEQ = BPF_JMP | BPF_JEQ | BPF_K;
const JGE = BPF_JMP | BPF_JGE | BPF_K;
const KILL: Target = { ret: SECCOMP_RET.KILL_PROCESS };

/**
 * Compiles a validated policy to a classic BPF seccomp filter for `arch`. The program:
 * 1. kills the process if seccomp_data.arch is not `arch` (a 64-bit process on x86_64 can still
 *    make i386 syscalls through int 0x80, under AUDIT_ARCH_I386);
 * 2. on x86_64, kills any number at or above the x32 bit, except -1 (a tracer's "skip"), as
 *    x32 syscalls share AUDIT_ARCH_X86_64 but have numbers of their own;
 * 3. finds the number's outcome by binary search over runs of numbers with the same outcome;
 * 4. for syscalls with argument rules, tries the rules in order, then the default.
 * Throws POLICY_UNENFORCEABLE if the program exceeds the kernel's 4096 instructions.
 */
export function compilePolicy(policy: Policy, arch: SeccompArch): CompiledFilter {
  const em = new BackwardEmitter();
  const defaultRet = actionToRet(policy.defaultAction);
  const planned = planSyscalls(policy, arch);

  // What each planned syscall leads to, by key: a return, or a block of argument rules that
  // syscalls with the same rules (socket and socketpair) share.
  const targets = new Map<string, Target>([[`ret:${defaultRet}`, { ret: defaultRet }]]);
  const keyOf = (entry: SyscallRules): string => {
    const [first] = entry.rules;
    if (first!.args.length === 0) {
      const ret = actionToRet(first!.action);
      targets.set(`ret:${ret}`, { ret });
      return `ret:${ret}`;
    }
    return `rules:${entry.rules.map((rule) => policy.rules.indexOf(rule)).join(',')}`;
  };
  for (const entry of planned) {
    const key = keyOf(entry);
    if (targets.has(key)) continue;
    const names = planned
      .filter((other) => keyOf(other) === key)
      .map((other) => `${other.name}(${other.nr})`)
      .join('/');
    targets.set(key, emitRuleChain(em, { names, rules: entry.rules, defaultRet }));
  }
  const ranges = numberRanges(planned, { keyOf, defaultKey: `ret:${defaultRet}` });
  let dispatch = emitSearch(em, { ranges, targetOf: (range) => targets.get(range.key)! });

  if (arch === 'x86_64') {
    const skipped = em.jump(JEQ, SKIPPED_SYSCALL, {
      ifTrue: dispatch,
      ifFalse: KILL,
      comment: 'nr == -1 (skipped by a tracer) is not x32',
    });
    const x32 = { ifTrue: { label: skipped }, ifFalse: dispatch, comment: 'x32 syscall?' };
    dispatch = { label: em.jump(JGE, X32_SYSCALL_BIT, x32) };
  }
  em.resolve(dispatch);
  const loadNr = em.emit({ code: LOAD, jt: 0, jf: 0, k: SECCOMP_DATA.nr }, 'load nr');
  const archCheck = { ifTrue: { label: loadNr }, ifFalse: KILL, comment: `arch == ${arch}?` };
  em.jump(JEQ, AUDIT_ARCH[arch], archCheck);
  em.emit({ code: LOAD, jt: 0, jf: 0, k: SECCOMP_DATA.arch }, 'load arch');

  const { program, comments } = em.finish();
  if (program.length > MAX_INSTRUCTIONS) {
    throw new IronClawError(
      'POLICY_UNENFORCEABLE',
      `seccomp policy "${policy.name}" compiles to ${program.length} instructions for ${arch}; ` +
        `the kernel accepts at most ${MAX_INSTRUCTIONS}: merge rules or use fewer comparisons`,
    );
  }
  const listing = program.map((ins, pc) => {
    const text = formatInstruction(ins, pc);
    const note = (ins.code & 0x07) === BPF_RET ? describeRet(ins.k) : comments[pc];
    return `${String(pc).padStart(4, '0')}: ${text}${note ? `  ; ${note}` : ''}`;
  });
  return { arch, bytes: encodeProgram(program), instructions: program.length, listing };
}

/** The rules of one syscall, tried in order; falls to the default when none applies. */
function emitRuleChain(
  em: BackwardEmitter,
  chain: { names: string; rules: readonly Rule[]; defaultRet: number },
): Target {
  let next: Target = { ret: chain.defaultRet };
  for (let r = chain.rules.length - 1; r >= 0; r--) {
    const { args, action } = chain.rules[r]!;
    const fail = next;
    let pass: Target = { ret: actionToRet(action) };
    for (let c = args.length - 1; c >= 0; c--) {
      const comment = `${chain.names} rule ${r + 1}`;
      const cmp = args[c]!;
      const before = args[c - 1];
      const loaded = before !== undefined && before.arg === cmp.arg && leavesLowWord(before);
      pass = emitComparison(em, cmp, { pass, fail, comment, loaded });
    }
    next = pass;
  }
  return next;
}

/** Binary search over range starts: `nr >= start` of the middle range picks a half. */
function emitSearch(
  em: BackwardEmitter,
  search: {
    ranges: readonly NumberRange<string>[];
    targetOf: (range: NumberRange<string>) => Target;
  },
): Target {
  const { ranges, targetOf } = search;
  const node = (lo: number, hi: number): Target => {
    if (lo === hi) return targetOf(ranges[lo]!);
    const mid = (lo + hi + 1) >> 1;
    const upper = node(mid, hi);
    const lower = node(lo, mid - 1);
    const start = ranges[mid]!.start;
    return {
      label: em.jump(JGE, start, { ifTrue: upper, ifFalse: lower, comment: `nr >= ${start}` }),
    };
  };
  return node(0, ranges.length - 1);
}
