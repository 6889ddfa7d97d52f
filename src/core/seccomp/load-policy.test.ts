import { describe, expect, it } from 'vitest';
import { loadPolicy } from './load-policy.js';
import type { PolicyFile } from './policy.js';

const reason = 'a reason for the test';
const base: PolicyFile = { name: 'test', defaultAction: 'allow', defaultReason: reason, rules: [] };
const withRules = (...rules: object[]): unknown => ({
  ...base,
  rules: rules.map((r) => ({ reason, ...r })),
});

describe('loadPolicy', () => {
  it('normalises actions, operands and masks', () => {
    const check = loadPolicy(
      withRules(
        { syscalls: ['mount'], action: { errno: 'EPERM' } },
        {
          syscalls: ['clone'],
          action: 'kill-process',
          args: [{ arg: 0, op: 'masked-eq', value: 16, mask: '0x10', width: 64 }],
        },
        {
          syscalls: ['ioctl'],
          action: { errno: 38 },
          args: [{ arg: 1, op: 'eq', value: 0x5412, width: 32 }],
        },
      ),
    );
    expect(check.ok).toBe(true);
    if (!check.ok) return;
    const [mount, clone, ioctl] = check.value.rules;
    expect(mount).toEqual({
      syscalls: ['mount'],
      action: { kind: 'errno', errno: 1 },
      args: [],
      reason,
    });
    expect(clone!.args[0]).toEqual({ arg: 0, op: 'masked-eq', width: 64, value: 16n, mask: 16n });
    expect(ioctl!.args[0]).toEqual({
      arg: 1,
      op: 'eq',
      width: 32,
      value: 0x5412n,
      mask: 0xffffffffn,
    });
    expect(ioctl!.action).toEqual({ kind: 'errno', errno: 38 });
  });

  it('takes 64-bit operands as hex strings', () => {
    const check = loadPolicy(
      withRules({
        syscalls: ['prctl'],
        action: 'trap',
        args: [{ arg: 2, op: 'ge', value: '0xFFFFFFFFFFFFFFFF', width: 64 }],
      }),
    );
    expect(check.ok && check.value.rules[0]!.args[0]!.value).toBe(0xffff_ffff_ffff_ffffn);
  });

  it.each([
    [
      'a rule without a reason',
      { ...base, rules: [{ syscalls: ['mount'], action: 'allow' }] },
      /rules\.0\.reason/,
    ],
    ['an empty reason', withRules({ syscalls: ['mount'], action: 'allow', reason: '' }), /reason/],
    ['an unknown action', withRules({ syscalls: ['mount'], action: 'deny' }), /rules\.0\.action/],
    ['an errno above 4095', withRules({ syscalls: ['mount'], action: { errno: 4096 } }), /errno/],
    [
      'an unknown errno name',
      withRules({ syscalls: ['mount'], action: { errno: 'EWHATEVER' } }),
      /unknown errno name "EWHATEVER"/,
    ],
    [
      'an unknown syscall',
      withRules({ syscalls: ['mountt'], action: 'allow' }),
      /unknown syscall "mountt"/,
    ],
    [
      'a syscall listed twice',
      withRules({ syscalls: ['mount', 'mount'], action: 'allow' }),
      /listed twice/,
    ],
    ['no syscalls', withRules({ syscalls: [], action: 'allow' }), /syscalls/],
    [
      'argument 6',
      withRules({
        syscalls: ['mount'],
        action: 'allow',
        args: [{ arg: 6, op: 'eq', value: 0, width: 64 }],
      }),
      /arg/,
    ],
    [
      'an unknown operator',
      withRules({
        syscalls: ['mount'],
        action: 'allow',
        args: [{ arg: 0, op: 'in', value: 0, width: 64 }],
      }),
      /op/,
    ],
    [
      'a missing width',
      withRules({ syscalls: ['mount'], action: 'allow', args: [{ arg: 0, op: 'eq', value: 0 }] }),
      /width/,
    ],
    [
      'a negative operand',
      withRules({
        syscalls: ['mount'],
        action: 'allow',
        args: [{ arg: 0, op: 'eq', value: -1, width: 64 }],
      }),
      /value/,
    ],
    [
      'an operand wider than 32 bits',
      withRules({
        syscalls: ['mount'],
        action: 'allow',
        args: [{ arg: 0, op: 'eq', value: 2 ** 32, width: 32 }],
      }),
      /wider than 32 bits/,
    ],
    [
      'a mask wider than 32 bits',
      withRules({
        syscalls: ['mount'],
        action: 'allow',
        args: [{ arg: 0, op: 'masked-eq', value: 0, mask: '0x100000000', width: 32 }],
      }),
      /mask .* wider than 32 bits/,
    ],
    [
      'masked-eq without a mask',
      withRules({
        syscalls: ['mount'],
        action: 'allow',
        args: [{ arg: 0, op: 'masked-eq', value: 0, width: 64 }],
      }),
      /needs a mask/,
    ],
    [
      'a mask on eq',
      withRules({
        syscalls: ['mount'],
        action: 'allow',
        args: [{ arg: 0, op: 'eq', value: 0, mask: 1, width: 64 }],
      }),
      /only meaningful with op masked-eq/,
    ],
    [
      'a value with bits outside its mask',
      withRules({
        syscalls: ['mount'],
        action: 'allow',
        args: [{ arg: 0, op: 'masked-eq', value: 3, mask: 1, width: 64 }],
      }),
      /could never match/,
    ],
    [
      'a rule that can never apply',
      withRules(
        { syscalls: ['mount', 'bpf'], action: 'trap' },
        { syscalls: ['bpf'], action: 'allow', args: [{ arg: 0, op: 'eq', value: 0, width: 32 }] },
      ),
      /rules\.1: never applies to "bpf": rules\.0 always decides it/,
    ],
    ['an unknown field', { ...base, rules: [], extra: 1 }, /unknown field "extra"/],
    ['a bad name', { ...base, name: '../x' }, /name/],
    ['not an object', 'allow', /expected object/],
  ])('rejects %s', (_what, json, message) => {
    const check = loadPolicy(json, 'policy test.json');
    expect(check).toMatchObject({ ok: false, code: 'INVALID_ARGUMENT' });
    if (!check.ok) {
      expect(check.message).toMatch(/^invalid policy test\.json: /);
      expect(check.message).toMatch(message);
    }
  });

  it('accepts a later rule for a syscall after a conditional one', () => {
    const check = loadPolicy(
      withRules(
        { syscalls: ['bpf'], action: 'allow', args: [{ arg: 0, op: 'eq', value: 0, width: 32 }] },
        { syscalls: ['bpf'], action: 'trap' },
      ),
    );
    expect(check.ok).toBe(true);
  });
});
