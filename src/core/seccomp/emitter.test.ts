import { expect, it } from 'vitest';
import { unwrap } from '../errors.js';
import { BPF_JA, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_W, BPF_ABS } from './bpf.js';
import { BackwardEmitter } from './emitter.js';
import { checkProgram, runFilter } from './interpreter.js';

const JEQ = BPF_JMP | BPF_JEQ | BPF_K;

it('reaches a target 255 instructions away with a short jump, 256 with a long one', () => {
  for (const gap of [254, 255, 256, 1000]) {
    const em = new BackwardEmitter();
    const far = em.emitReturn(7);
    for (let i = 0; i < gap; i++) em.emitReturn(1000 + i); // distinct values: no reuse
    const near = em.emitReturn(8);
    em.jump(JEQ, 59, { ifTrue: { label: far }, ifFalse: { label: near } });
    em.emit({ code: BPF_LD | BPF_W | BPF_ABS, jt: 0, jf: 0, k: 0 });
    const { program } = em.finish();
    const longJumps = program.filter((ins) => ins.code === (BPF_JMP | BPF_JA));
    expect(longJumps.length, `gap ${gap}`).toBe(gap + 1 > 255 ? 1 : 0);
    const checked = unwrap(checkProgram(program));
    expect(runFilter(checked, { nr: 59, arch: 0, args: [] })).toBe(7);
    expect(runFilter(checked, { nr: 60, arch: 0, args: [] })).toBe(8);
  }
});

it('re-emits a return rather than jumping far to an old copy of it', () => {
  const em = new BackwardEmitter();
  em.emitReturn(7);
  for (let i = 0; i < 300; i++) em.emitReturn(1000 + i);
  em.jump(JEQ, 1, { ifTrue: { ret: 7 }, ifFalse: { ret: 1000 } });
  const { program } = em.finish();
  expect(program.filter((ins) => ins.code === (BPF_JMP | BPF_JA))).toHaveLength(0);
  expect(program.filter((ins) => ins.k === 7)).toHaveLength(2);
});
