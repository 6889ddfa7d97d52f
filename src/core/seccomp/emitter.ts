import { BPF_JA, BPF_JMP, BPF_K, BPF_RET, type SockFilter } from './bpf.js';

/** Where a jump goes: an instruction already emitted, or "return this value". */
export type Target = { label: number } | { ret: number };

interface Emitted extends SockFilter {
  comment: string;
}

/** The 8-bit conditional jump offsets reach at most this far. */
const MAX_SHORT_JUMP = 255;

/**
 * Builds a BPF program from its end towards its start. Every jump in BPF goes forward, so when an
 * instruction is emitted all its targets already exist and their distances are known exactly:
 * a conditional jump whose target is more than 255 instructions away gets a trampoline (a BPF_JA
 * with a 32-bit offset, or a fresh copy of a return) placed right after it. Labels count from
 * the end of the program, so they stay valid as instructions are added in front.
 */
export class BackwardEmitter {
  readonly #reversed: Emitted[] = [];
  /** The most recent (nearest to the front) return of each value. */
  readonly #returns = new Map<number, number>();

  /** How many instructions have been emitted. */
  get length(): number {
    return this.#reversed.length;
  }

  /** Emits `ins` in front of everything emitted so far; returns its label. */
  emit(ins: SockFilter, comment = ''): number {
    this.#reversed.push({ ...ins, comment });
    return this.#reversed.length - 1;
  }

  /** Emits a return of `value` and remembers it for reuse by nearby jumps. */
  emitReturn(value: number, comment = ''): number {
    const label = this.emit({ code: BPF_RET | BPF_K, jt: 0, jf: 0, k: value }, comment);
    this.#returns.set(value, label);
    return label;
  }

  /** Emits a conditional jump (`code` is BPF_JMP|op|BPF_K) to the two targets. */
  jump(code: number, k: number, to: { ifTrue: Target; ifFalse: Target; comment?: string }): number {
    const { ifTrue, ifFalse, comment = '' } = to;
    // The false target is resolved with one slot to spare: resolving the true target may still
    // put one trampoline between the jump and it.
    const falseLabel = this.#near(ifFalse, MAX_SHORT_JUMP - 1);
    const trueLabel = this.#near(ifTrue, MAX_SHORT_JUMP);
    return this.emit(
      { code, jt: this.#distance(trueLabel), jf: this.#distance(falseLabel), k: k >>> 0 },
      comment,
    );
  }

  /** A label for `target`, emitting one instruction if needed; usable as a fall-through. */
  resolve(target: Target): number {
    return this.#near(target, 0);
  }

  /** The program in execution order, with a comment per instruction. */
  finish(): { program: SockFilter[]; comments: string[] } {
    const ordered = [...this.#reversed].reverse();
    return {
      program: ordered.map(({ code, jt, jf, k }) => ({ code, jt, jf, k })),
      comments: ordered.map((ins) => ins.comment),
    };
  }

  /** Instructions a jump emitted next would skip to reach `label`. */
  #distance(label: number): number {
    return this.#reversed.length - label - 1;
  }

  /** A label for `target` within `limit` instructions of the next emitted instruction. */
  #near(target: Target, limit: number): number {
    if ('ret' in target) {
      const existing = this.#returns.get(target.ret);
      if (existing !== undefined && this.#distance(existing) <= limit) return existing;
      return this.emitReturn(target.ret);
    }
    const distance = this.#distance(target.label);
    if (distance <= limit) return target.label;
    return this.emit({ code: BPF_JMP | BPF_JA | BPF_K, jt: 0, jf: 0, k: distance }, 'long jump');
  }
}
