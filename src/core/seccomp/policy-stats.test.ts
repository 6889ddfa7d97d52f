import fc from 'fast-check';
import { expect, it } from 'vitest';
import { unwrap } from '../errors.js';
import { syscallsOf } from './arch.js';
import { compilePolicy } from './compile.js';
import { checkProgram, runFilter } from './interpreter.js';
import { loadPolicy } from './load-policy.js';
import { policyArb, seccompDataArb } from './policy-arbitrary.js';
import { filterStats, policyStats } from './policy-stats.js';
import { reachableReturns } from './reachable-returns.js';

const reason = 'a reason for the test';
const policy = unwrap(
  loadPolicy({
    name: 'test',
    defaultAction: 'allow',
    defaultReason: reason,
    rules: [
      { syscalls: ['mount', 'bpf', 'iopl'], action: { errno: 'EPERM' }, reason },
      { syscalls: ['io_uring_setup'], action: { errno: 'ENOSYS' }, reason },
      { syscalls: ['ptrace'], action: 'kill-process', reason },
      { syscalls: ['getpid'], action: 'log', reason },
      {
        syscalls: ['ioctl'],
        action: { errno: 'EPERM' },
        args: [{ arg: 1, op: 'eq', value: 0x5412, width: 32 }],
        reason,
      },
      // A comparison whose outcome is the default either way still makes the call conditional
      // in the program's structure, but it can only ever return one value: counted as allowed.
      {
        syscalls: ['read'],
        action: 'allow',
        args: [{ arg: 0, op: 'eq', value: 0, width: 32 }],
        reason,
      },
    ],
  }),
);

it('counts allowed, denied and conditional syscalls from the compiled program', () => {
  const x86 = policyStats(policy, 'x86_64');
  expect(x86.total).toBe(syscallsOf('x86_64').length);
  expect(x86.deniedSyscalls.sort()).toEqual(['bpf', 'io_uring_setup', 'iopl', 'mount', 'ptrace']);
  expect(x86.conditionalSyscalls).toEqual(['ioctl']);
  expect(x86.byOutcome).toEqual({
    allow: x86.total - 7,
    log: 1,
    'errno(1)': 3,
    'errno(38)': 1,
    'kill-process': 1,
  });
  expect(x86.allowed + x86.denied + x86.conditional).toBe(x86.total);
  expect(x86.allowed).toBe(x86.total - 6); // log counts as allowed

  const arm = policyStats(policy, 'aarch64'); // no iopl on aarch64
  expect(arm.deniedSyscalls.sort()).toEqual(['bpf', 'io_uring_setup', 'mount', 'ptrace']);
  expect(arm.total).toBe(syscallsOf('aarch64').length);
});

it('reads the numbers off the bytes, so they describe exactly what is loaded', () => {
  const { bytes } = compilePolicy(policy, 'aarch64');
  expect(filterStats(bytes, 'aarch64')).toEqual(policyStats(policy, 'aarch64'));
  // The same bytes judged as x86_64 fail the arch check: every call is killed.
  expect(filterStats(bytes, 'x86_64')).toMatchObject({
    allowed: 0,
    conditional: 0,
    byOutcome: { 'kill-process': syscallsOf('x86_64').length },
  });
});

it('never misses an outcome: every verdict seen on random calls is among the reachable ones', () => {
  fc.assert(
    fc.property(
      policyArb().chain((p) =>
        fc.tuple(
          fc.constant(p),
          fc.array(seccompDataArb(p, 'x86_64'), { minLength: 100, maxLength: 100 }),
        ),
      ),
      ([p, calls]) => {
        const program = unwrap(checkProgram(compilePolicy(p, 'x86_64').bytes));
        for (const data of calls) {
          const reachable = reachableReturns(program, { auditArch: data.arch, nr: data.nr });
          expect(reachable.has(runFilter(program, data))).toBe(true);
        }
      },
    ),
    { seed: 7, numRuns: 100 },
  );
});
