// Our seccomp policies as Firecracker's seccompiler-bin input (firecracker-seccomp.ts), proven
// three ways: the JSON is in the documented format and names only syscalls our tables know; a
// tiny evaluator of that format (Firecracker's semantics: one action for any matching rule, a
// dword only narrowing `eq`) gives the same verdicts as our own compiled BPF on many random
// syscalls; and the JSON compiled the way seccompiler-bin compiles it (the same libseccomp calls,
// through python3-seccomp) gives those verdicts too. The seccompiler-bin binary itself is not on
// this machine: that one step is skipped, visibly.
import { execFile as execFileCallback } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { unwrap } from '../src/core/errors.js';
import { actionToRet, describeRet, SECCOMP_RET } from '../src/core/seccomp/actions.js';
import {
  AUDIT_ARCH,
  SECCOMP_ARCHES,
  syscallName,
  syscallNumber,
  type SeccompArch,
} from '../src/core/seccomp/arch.js';
import type { SockFilter } from '../src/core/seccomp/bpf.js';
import { compilePolicy } from '../src/core/seccomp/compile.js';
import { SANDBOX_POLICY_FILE } from '../src/core/seccomp/compile-for-host.js';
import { checkProgram, runFilter, type SeccompData } from '../src/core/seccomp/interpreter.js';
import { loadPolicy } from '../src/core/seccomp/load-policy.js';
import { policyArb, seccompDataArb } from '../src/core/seccomp/policy-arbitrary.js';
import type { Policy, PolicyFile } from '../src/core/seccomp/policy.js';
import {
  compileFirecrackerFilter,
  FIRECRACKER_THREADS,
  type FirecrackerAction,
  type FirecrackerFilter,
  firecrackerFilter,
  firecrackerFilterFile,
  serializeFilterFile,
} from '../src/drivers/firecracker/seccomp.js';
import { expectCode } from './support/expect-code.js';

const execFile = promisify(execFileCallback);
const SEED = 0xfc5ecc;
const CALLS = 4000;
const PYTHON = '/usr/bin/python3';
const VMM_POLICY_FILE = 'policies/seccomp/vmm-firecracker.json';

const reason = 'a reason for the test';
function policy(file: Omit<PolicyFile, 'defaultReason' | 'name'>): Policy {
  return unwrap(
    loadPolicy({
      name: 'test',
      defaultReason: reason,
      ...file,
      rules: file.rules.map((rule) => ({ ...rule, reason })),
    }),
  );
}

/** A small VMM-style allow-list using every comparison the format has, both widths. */
const ALLOW_LIST = policy({
  defaultAction: 'kill-process',
  rules: [
    { syscalls: ['read', 'write', 'close', 'epoll_pwait', 'exit_group'], action: 'allow', reason },
    {
      syscalls: ['ioctl'],
      action: 'allow',
      args: [{ arg: 1, op: 'eq', value: 0x5421, width: 32 }],
      reason,
    },
    {
      syscalls: ['ioctl'],
      action: 'allow',
      args: [{ arg: 1, op: 'eq', value: 0xc008ae67, width: 32 }],
      reason,
    },
    {
      syscalls: ['futex'],
      action: 'allow',
      args: [{ arg: 1, op: 'masked-eq', mask: 0x7f, value: 0, width: 32 }],
      reason,
    },
    {
      syscalls: ['mmap'],
      action: 'allow',
      args: [
        { arg: 2, op: 'ne', value: 7, width: 32 },
        { arg: 3, op: 'lt', value: 0x100, width: 32 },
      ],
      reason,
    },
    {
      syscalls: ['socket'],
      action: 'allow',
      args: [
        { arg: 0, op: 'eq', value: 1, width: 32 },
        { arg: 1, op: 'masked-eq', mask: 0xf, value: 1, width: 32 },
      ],
      reason,
    },
    {
      syscalls: ['madvise'],
      action: 'allow',
      args: [{ arg: 2, op: 'ge', value: '0x100000000', width: 64 }],
      reason,
    },
    {
      syscalls: ['clone'],
      action: 'allow',
      args: [{ arg: 0, op: 'masked-eq', mask: '0xffffffff00000000', value: 0, width: 64 }],
      reason,
    },
    {
      syscalls: ['lseek'],
      action: 'allow',
      args: [{ arg: 2, op: 'le', value: 2, width: 64 }],
      reason,
    },
    {
      syscalls: ['prctl'],
      action: 'allow',
      args: [{ arg: 0, op: 'eq', value: 22, width: 64 }],
      reason,
    },
    { syscalls: ['iopl'], action: 'allow', reason }, // x86_64 only: absent from the aarch64 file
  ],
});

/** A deny-list, as the sandbox policy is: errors for a few calls, the rest allowed. */
const DENY_LIST = policy({
  defaultAction: 'allow',
  rules: [
    { syscalls: ['ptrace', 'bpf', 'kexec_load'], action: { errno: 'EPERM' }, reason },
    {
      syscalls: ['clone'],
      action: { errno: 'EPERM' },
      args: [{ arg: 0, op: 'masked-eq', mask: 0x7e020000, value: 0x10000000, width: 32 }],
      reason,
    },
    {
      syscalls: ['socket'],
      action: { errno: 'EPERM' },
      args: [{ arg: 0, op: 'gt', value: 10, width: 32 }],
      reason,
    },
  ],
});

const sandbox = unwrap(loadPolicy(JSON.parse(await readFile(SANDBOX_POLICY_FILE, 'utf8'))));
/** The sandbox policy's EPERM rules alone: its argument checks, in one action. */
const SANDBOX_EPERM: Policy = {
  ...sandbox,
  name: 'sandbox-eperm',
  rules: sandbox.rules.filter((rule) => rule.action.kind === 'errno' && rule.action.errno === 1),
};
const vmmText = await readFile(VMM_POLICY_FILE, 'utf8').catch(() => undefined);
const vmmPolicy = vmmText === undefined ? undefined : unwrap(loadPolicy(JSON.parse(vmmText)));

const POLICIES: [string, Policy][] = [
  ['a synthetic allow-list', ALLOW_LIST],
  ['a synthetic deny-list', DENY_LIST],
  ["the sandbox policy's EPERM rules", SANDBOX_EPERM],
  ...(vmmPolicy ? [['policies/seccomp/vmm-firecracker.json', vmmPolicy] as [string, Policy]] : []),
];

// --- The documented format (seccompiler types.rs), checked key by key -------------------------

const ACTION_NAMES = ['allow', 'kill_process', 'kill_thread', 'log', 'trap'];
const OPS = ['eq', 'ne', 'lt', 'le', 'gt', 'ge'];

function formatProblems(json: unknown, arch: SeccompArch): string[] {
  const problems: string[] = [];
  const isU64 = (v: unknown): boolean =>
    (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) ||
    (typeof v === 'bigint' && v >= 0n && v < 1n << 64n);
  const action = (a: unknown, where: string): void => {
    if (typeof a === 'string' && ACTION_NAMES.includes(a)) return;
    const [key, ...more] = a !== null && typeof a === 'object' ? Object.entries(a) : [];
    const ok =
      key &&
      more.length === 0 &&
      ['errno', 'trace'].includes(key[0]) &&
      Number.isInteger(key[1]) &&
      (key[1] as number) >= 0 &&
      (key[1] as number) <= 0xffff;
    if (!ok) problems.push(`${where}: not an action: ${JSON.stringify(a)}`);
  };
  const keys = (o: object, allowed: string[], where: string): void => {
    for (const k of Object.keys(o))
      if (!allowed.includes(k)) problems.push(`${where}: unknown key ${k}`);
  };
  if (json === null || typeof json !== 'object') return ['not an object'];
  expect(Object.keys(json).sort()).toEqual([...FIRECRACKER_THREADS].sort());
  for (const [thread, filter] of Object.entries(json as Record<string, Record<string, unknown>>)) {
    keys(filter, ['default_action', 'filter_action', 'filter'], thread);
    action(filter.default_action, `${thread}.default_action`);
    action(filter.filter_action, `${thread}.filter_action`);
    if (!Array.isArray(filter.filter)) {
      problems.push(`${thread}.filter: not an array`);
      continue;
    }
    filter.filter.forEach((rule: Record<string, unknown>, i) => {
      const where = `${thread}.filter[${i}]`;
      keys(rule, ['syscall', 'comment', 'args'], where);
      if (typeof rule.syscall !== 'string' || syscallNumber(arch, rule.syscall) === undefined)
        problems.push(`${where}: ${String(rule.syscall)} is not an ${arch} syscall`);
      if (rule.comment !== undefined && typeof rule.comment !== 'string')
        problems.push(`${where}.comment: not a string`);
      if (rule.args === undefined) return;
      if (!Array.isArray(rule.args) || rule.args.length === 0)
        return problems.push(`${where}.args: not a non-empty array`);
      const indexes = new Set<unknown>();
      (rule.args as Record<string, unknown>[]).forEach((c, j) => {
        const at = `${where}.args[${j}]`;
        keys(c, ['index', 'type', 'op', 'val', 'comment'], at);
        if (!Number.isInteger(c.index) || (c.index as number) < 0 || (c.index as number) > 5)
          problems.push(`${at}.index: ${String(c.index)}`);
        if (indexes.has(c.index))
          problems.push(`${at}: argument ${String(c.index)} compared twice (libseccomp refuses)`);
        indexes.add(c.index);
        if (c.type !== 'dword' && c.type !== 'qword')
          problems.push(`${at}.type: ${String(c.type)}`);
        const op = c.op;
        const maskedEq =
          op !== null && typeof op === 'object' && Object.keys(op).join() === 'masked_eq';
        if (
          !(typeof op === 'string' && OPS.includes(op)) &&
          !(maskedEq && isU64((op as { masked_eq: unknown }).masked_eq))
        )
          problems.push(
            `${at}.op: ${JSON.stringify(op, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`,
          );
        if (!isU64(c.val)) problems.push(`${at}.val: not a u64`);
        if (c.type === 'dword' && typeof op === 'string' && BigInt(c.val as number) > 0xffffffffn)
          problems.push(`${at}: a dword value wider than 32 bits`);
      });
    });
  }
  return problems;
}

/** JSON.parse that keeps integers beyond 2^53 exact (as serde's u64 does). */
function parseExact(text: string): unknown {
  return JSON.parse(text, (_key, value: unknown, context?: { source?: string }) =>
    typeof value === 'number' && !Number.isSafeInteger(value) && context?.source
      ? BigInt(context.source)
      : value,
  );
}

/** Every integer as a bigint, to compare values without a double's rounding. */
function exactly(value: unknown): unknown {
  if (typeof value === 'number' || typeof value === 'bigint') return BigInt(value);
  if (Array.isArray(value)) return value.map(exactly);
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, exactly(v)]));
  return value;
}

// --- A tiny evaluator of Firecracker's format ----------------------------------------------------

function fcRet(action: FirecrackerAction): number {
  if (typeof action === 'object')
    return 'errno' in action
      ? (SECCOMP_RET.ERRNO | action.errno) >>> 0
      : (SECCOMP_RET.TRACE | action.trace) >>> 0;
  return {
    allow: SECCOMP_RET.ALLOW,
    kill_process: SECCOMP_RET.KILL_PROCESS,
    kill_thread: SECCOMP_RET.KILL_THREAD,
    log: SECCOMP_RET.LOG,
    trap: SECCOMP_RET.TRAP,
  }[action];
}

/** What a thread's filter does with one call: seccompiler's semantics, from types.rs. */
function evaluateFc(filter: FirecrackerFilter, arch: SeccompArch, data: SeccompData): number {
  const name = syscallName(arch, data.nr);
  const matches = filter.filter.some(
    (rule) =>
      rule.syscall === name &&
      (rule.args ?? []).every((c) => {
        const raw = data.args[c.index] ?? 0n;
        const val = BigInt(c.val);
        if (typeof c.op === 'object') return (raw & BigInt(c.op.masked_eq)) === val;
        switch (c.op) {
          case 'eq': // the one op a dword narrows: masked_eq with 0xffffffff
            return (c.type === 'dword' ? raw & 0xffffffffn : raw) === val;
          case 'ne':
            return raw !== val; // every other op compares all 64 bits, whatever the type
          case 'lt':
            return raw < val;
          case 'le':
            return raw <= val;
          case 'gt':
            return raw > val;
          case 'ge':
            return raw >= val;
        }
      }),
  );
  return fcRet(matches ? filter.filter_action : filter.default_action);
}

/** Random calls of `arch` (no x32 numbers: the arch header is not what the JSON expresses). */
function calls(p: Policy, arch: SeccompArch, count: number): SeccompData[] {
  return fc
    .sample(seccompDataArb(p, arch), { seed: SEED, numRuns: count * 2 })
    .map((data) => ({ ...data, arch: AUDIT_ARCH[arch], nr: data.nr & 0x3fffffff }))
    .slice(0, count);
}

function program(p: Policy, arch: SeccompArch): SockFilter[] {
  return unwrap(checkProgram(compilePolicy(p, arch).bytes));
}

function disagreement(
  arch: SeccompArch,
  data: SeccompData,
  mine: number,
  theirs: number,
  who: string,
): string {
  const args = data.args.map((a) => `0x${a.toString(16)}`).join(', ');
  return `${arch} ${syscallName(arch, data.nr) ?? data.nr} [${args}]: our BPF ${describeRet(mine)}, ${who} ${describeRet(theirs)}`;
}

describe('our seccomp policies as seccompiler-bin input', () => {
  describe.each(POLICIES)('%s', (_name, p) => {
    test.each(SECCOMP_ARCHES)(
      'on %s: documented format, known syscall names, one rule per condition set',
      (arch) => {
        const file = unwrap(firecrackerFilterFile({ vmm: p, api: p, vcpu: p }, arch));
        const text = serializeFilterFile(file);
        expect(formatProblems(parseExact(text), arch)).toEqual([]);
        // Written and read back exactly, big operands included.
        expect(exactly(parseExact(text))).toEqual(exactly(file));
      },
    );

    test.each(SECCOMP_ARCHES)(
      `on %s: the JSON's verdicts are our compiled BPF's, on ${CALLS} random calls`,
      (arch) => {
        const filter = unwrap(firecrackerFilter(p, arch));
        const ours = program(p, arch);
        let agreed = 0;
        for (const data of calls(p, arch, CALLS)) {
          const mine = runFilter(ours, data);
          const theirs = evaluateFc(filter, arch, data);
          if (mine !== theirs) expect.fail(disagreement(arch, data, mine, theirs, 'the JSON'));
          agreed++;
        }
        expect(agreed).toBe(CALLS);
      },
    );
  });

  test('the JSON names each rule’s reason and writes u64 operands as exact digits', () => {
    const text = serializeFilterFile(
      unwrap(
        firecrackerFilterFile({ vmm: ALLOW_LIST, api: ALLOW_LIST, vcpu: ALLOW_LIST }, 'x86_64'),
      ),
    );
    expect(text).toContain('"comment": "a reason for the test"');
    expect(text).toContain('"masked_eq": 18446744069414584320'); // 0xffffffff00000000
    expect(text).toContain('"val": 4294967296'); // madvise's 64-bit ge 2^32
    expect(text).toMatch(/"default_action": "kill_process",\n\s+"filter_action": "allow"/);
  });

  test('random one-action policies agree; policies needing two match actions are refused', () => {
    let expressed = 0;
    let refused = 0;
    fc.assert(
      fc.property(
        policyArb({ libseccomp: true }),
        fc.constantFrom(...SECCOMP_ARCHES),
        (p, arch) => {
          const filter = firecrackerFilter(p, arch);
          const rets = new Set(
            p.rules
              .filter((rule) => rule.syscalls.some((n) => syscallNumber(arch, n) !== undefined))
              .map((rule) => actionToRet(rule.action))
              .filter((ret) => ret !== actionToRet(p.defaultAction)),
          );
          if (!filter.ok) {
            expect(filter.code).toBe('POLICY_UNENFORCEABLE');
            expect(rets.size).toBeGreaterThan(1);
            refused++;
            return;
          }
          expressed++;
          const ours = program(p, arch);
          for (const data of calls(p, arch, 40)) {
            const mine = runFilter(ours, data);
            const theirs = evaluateFc(filter.value, arch, data);
            if (mine !== theirs) expect.fail(disagreement(arch, data, mine, theirs, 'the JSON'));
          }
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
    expect(expressed).toBeGreaterThan(20);
    expect(refused).toBeGreaterThan(20);
  });

  test('the whole sandbox policy is refused: it answers with two errnos, the format has one action', () => {
    const refused = firecrackerFilter(sandbox, 'x86_64');
    expect(refused.ok).toBe(false);
    if (refused.ok) return;
    expect(refused.code).toBe('POLICY_UNENFORCEABLE');
    expect(refused.message).toMatch(/needs 2: errno\(1\) \(.*\), errno\(38\) \(/);
  });

  if (vmmPolicy === undefined) {
    test.skip(`${VMM_POLICY_FILE} [skipped: it does not exist yet; the driver then keeps Firecracker's built-in filter]`, () =>
      undefined);
  }
});

// --- Compiled as seccompiler-bin compiles it -------------------------------------------------------

const EXPORTER = `
import base64, json, sys, tempfile
import seccomp as s
ARCH = {'x86_64': s.Arch.X86_64, 'aarch64': s.Arch.AARCH64}
OPS = {'eq': s.EQ, 'ne': s.NE, 'lt': s.LT, 'le': s.LE, 'gt': s.GT, 'ge': s.GE}
def signed(value):  # the binding takes a C int: SECCOMP_RET_KILL_PROCESS is negative there
    return value - (1 << 32) if value >= 1 << 31 else value
def condition(c):  # firecracker src/seccompiler/src/types.rs SeccompCondition::to_scmp_type
    op = c['op']
    if isinstance(op, dict):
        return s.Arg(c['index'], s.MASKED_EQ, op['masked_eq'], c['val'])
    if op == 'eq' and c['type'] == 'dword':
        return s.Arg(c['index'], s.MASKED_EQ, 0xFFFFFFFF, c['val'])
    return s.Arg(c['index'], OPS[op], c['val'])
out = []
for job in json.load(sys.stdin):
    thread = job['file'][job['thread']]
    f = s.SyscallFilter(signed(job['default']))   # seccomp_init(default_action)
    f.set_attr(s.Attr.ACT_BADARCH, s.KILL_PROCESS)
    arch = ARCH[job['arch']]
    if (arch & 0xffffffff) != s.system_arch():
        f.add_arch(arch)
        f.remove_arch(s.Arch.NATIVE)
    for rule in thread['filter']:               # seccomp_rule_add_array(filter_action, ...)
        f.add_rule(signed(job['match']), rule['syscall'], *[condition(c) for c in rule.get('args', [])])
    with tempfile.TemporaryFile() as tmp:
        f.export_bpf(tmp)
        tmp.seek(0)
        out.append(base64.b64encode(tmp.read()).decode())
json.dump(out, sys.stdout)
`;

const noLibseccomp = await execFile(PYTHON, ['-c', 'import seccomp']).then(
  () => undefined,
  () => 'python3-seccomp is not installed (apt-get install python3-seccomp)',
);

describe.skipIf(noLibseccomp !== undefined)(
  `the JSON compiled as seccompiler-bin does (libseccomp)${noLibseccomp ? ` [skipped: ${noLibseccomp}]` : ''}`,
  () => {
    const jobs = POLICIES.flatMap(([name, p]) => SECCOMP_ARCHES.map((arch) => ({ name, p, arch })));
    let compiled: SockFilter[][];
    beforeAll(async () => {
      // Each job: one thread's filter of the file as seccompiler-bin reads it (our text, exact
      // u64s), with the default and match actions as SECCOMP_RET values for the binding.
      const payload = jobs.map(({ p, arch }) => {
        const filter = unwrap(firecrackerFilter(p, arch));
        const text = serializeFilterFile({ vmm: filter, api: filter, vcpu: filter });
        return `{"arch":"${arch}","thread":"vcpu","default":${fcRet(filter.default_action)},"match":${fcRet(filter.filter_action)},"file":${text}}`;
      });
      const child = execFile(PYTHON, ['-c', EXPORTER], { maxBuffer: 64 * 1024 ** 2 });
      child.child.stdin!.end(`[${payload.join(',')}]`);
      const { stdout } = await child;
      compiled = (JSON.parse(stdout) as string[]).map((b64) =>
        unwrap(checkProgram(Buffer.from(b64, 'base64'))),
      );
    });

    test.each(jobs.map((job, i) => [job.name, job.arch, i] as const))(
      `%s on %s: libseccomp's program from the JSON agrees with ours on ${CALLS} random calls`,
      (_name, arch, index) => {
        const { p } = jobs[index]!;
        const ours = program(p, arch);
        for (const data of calls(p, arch, CALLS)) {
          const mine = runFilter(ours, data);
          const theirs = runFilter(compiled[index]!, data);
          if (mine !== theirs) expect.fail(disagreement(arch, data, mine, theirs, 'libseccomp'));
        }
      },
    );
  },
);

// --- seccompiler-bin itself ------------------------------------------------------------------------

const seccompiler = await execFile(process.env.IRONCLAW_SECCOMPILER ?? 'seccompiler-bin', [
  '--version',
]).then(
  () => undefined,
  () => 'seccompiler-bin is not installed (it ships in the Firecracker release archive)',
);

describe('compiling with seccompiler-bin', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ironclaw-fc-seccomp-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const file = unwrap(
    firecrackerFilterFile({ vmm: ALLOW_LIST, api: ALLOW_LIST, vcpu: ALLOW_LIST }, 'x86_64'),
  );

  test('a missing seccompiler-bin is a clear error naming it', async () => {
    const saved = process.env.IRONCLAW_SECCOMPILER;
    process.env.IRONCLAW_SECCOMPILER = join(dir, 'no-such-seccompiler-bin');
    try {
      const error = await expectCode(
        () =>
          compileFirecrackerFilter(file, {
            arch: 'x86_64',
            output: join(dir, 'out.bpf'),
            signal: AbortSignal.timeout(5000),
          }),
        'POLICY_UNENFORCEABLE',
      );
      expect(error.message).toContain('no-such-seccompiler-bin is not installed');
      expect(error.message).toContain('same version as firecracker');
    } finally {
      if (saved === undefined) delete process.env.IRONCLAW_SECCOMPILER;
      else process.env.IRONCLAW_SECCOMPILER = saved;
    }
  });

  test.skipIf(seccompiler !== undefined)(
    `seccompiler-bin compiles the JSON${seccompiler ? ` [skipped: ${seccompiler}]` : ''}`,
    async () => {
      const output = join(dir, 'filter.bpf');
      await compileFirecrackerFilter(file, {
        arch: 'x86_64',
        output,
        signal: AbortSignal.timeout(30_000),
      });
      expect((await readFile(output)).length).toBeGreaterThan(0);
    },
  );
});
