// Tier two of the seccomp proof, second half: our compiled programs against libseccomp's for the
// same policies. Debian's python3-seccomp (libseccomp 2.5.x) exports its BPF for each policy;
// both programs then run through our interpreter on the same random syscalls.
import { execFile as execFileCallback } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import { unwrap } from '../src/core/errors.js';
import { describeRet } from '../src/core/seccomp/actions.js';
import { SECCOMP_ARCHES, syscallsOf, type SeccompArch } from '../src/core/seccomp/arch.js';
import type { SockFilter } from '../src/core/seccomp/bpf.js';
import { compilePolicy } from '../src/core/seccomp/compile.js';
import { SECCOMP_POLICY_NAMES, seccompPolicyFile } from '../src/core/seccomp/compile-for-host.js';
import { evaluatePolicy } from '../src/core/seccomp/evaluate-policy.js';
import { checkProgram, runFilter } from '../src/core/seccomp/interpreter.js';
import { toLibseccompRules, type LibseccompFilter } from '../src/core/seccomp/libseccomp-rules.js';
import { loadPolicy } from '../src/core/seccomp/load-policy.js';
import { policyArb, seccompDataArb } from '../src/core/seccomp/policy-arbitrary.js';
import type { Policy } from '../src/core/seccomp/policy.js';

const execFile = promisify(execFileCallback);
const PYTHON = '/usr/bin/python3'; // Debian's python, where python3-seccomp installs its module
const SEED = 0x11b5ecc;
const RANDOM_POLICIES = 150;
const CALLS_PER_POLICY = 100;
/** Random calls per shipped policy (the sandbox's deny-list and the VMMs' allow-lists). */
const POLICY_CALLS = 20_000;

const EXPORTER = `
import base64, json, sys, tempfile
import seccomp as s
ARCH = {'x86_64': s.Arch.X86_64, 'aarch64': s.Arch.AARCH64}
OPS = {'eq': s.EQ, 'ne': s.NE, 'lt': s.LT, 'le': s.LE, 'gt': s.GT, 'ge': s.GE, 'masked-eq': s.MASKED_EQ}
request = json.load(sys.stdin)
def action(value):  # the binding takes a C int: SECCOMP_RET_KILL_PROCESS is negative there
    return value - (1 << 32) if value >= 1 << 31 else value
out = {'filters': [], 'numbers': {}, 'names': {}}
for spec in request['filters']:
    f = s.SyscallFilter(action(spec['default']))
    f.set_attr(s.Attr.ACT_BADARCH, s.KILL_PROCESS)
    arch = ARCH[spec['arch']]
    if (arch & 0xffffffff) != s.system_arch():
        f.add_arch(arch)
        f.remove_arch(s.Arch.NATIVE)
    for rule in spec['rules']:
        args = [s.Arg(a, OPS[op], int(x, 16), int(y, 16)) for a, op, x, y in rule['args']]
        f.add_rule(action(rule['action']), rule['syscall'], *args)
    with tempfile.TemporaryFile() as tmp:
        f.export_bpf(tmp)
        tmp.seek(0)
        out['filters'].append(base64.b64encode(tmp.read()).decode())
for arch, names in request['resolve'].items():
    out['numbers'][arch] = {name: s.resolve_syscall(ARCH[arch], name) for name in names}
    known = {}
    for nr in range(0, 1024):
        try:
            known[nr] = s.resolve_syscall(ARCH[arch], nr).decode()
        except ValueError:
            pass
    out['names'][arch] = known
json.dump(out, sys.stdout)
`;

interface ExportResult {
  filters: string[];
  numbers: Record<string, Record<string, number>>;
  names: Record<string, Record<string, string>>;
}

async function probe(): Promise<string | undefined> {
  try {
    await execFile(PYTHON, ['-c', 'import seccomp']);
    return undefined;
  } catch {
    return `python3-seccomp is not installed (apt-get install python3-seccomp)`;
  }
}
const missing = await probe();
const shippedTexts = await Promise.all(
  SECCOMP_POLICY_NAMES.map((name) => readFile(seccompPolicyFile(name), 'utf8')),
);

/** The exporter's input: our policy in libseccomp's terms, operands as hex. */
function request(filter: LibseccompFilter): object {
  const hex = (n: bigint): string => `0x${n.toString(16)}`;
  return {
    arch: filter.arch,
    default: filter.defaultAction,
    rules: filter.rules.map((rule) => ({
      syscall: rule.syscall,
      action: rule.action,
      args: rule.args.map((a) => [a.index, a.op, hex(a.value), hex(a.valueTwo)]),
    })),
  };
}

async function exportFilters(filters: LibseccompFilter[]): Promise<ExportResult> {
  const resolve = Object.fromEntries(SECCOMP_ARCHES.map((a) => [a, syscallsOf(a).map(([n]) => n)]));
  const child = execFile(PYTHON, ['-c', EXPORTER], { maxBuffer: 256 * 1024 ** 2 });
  child.child.stdin!.end(JSON.stringify({ filters: filters.map(request), resolve }));
  const { stdout } = await child;
  return JSON.parse(stdout) as ExportResult;
}

describe.skipIf(missing !== undefined)(
  `libseccomp agrees with our compiler${missing ? ` (skipped: ${missing})` : ''}`,
  () => {
    const shipped = shippedTexts.map((text) => unwrap(loadPolicy(JSON.parse(text))));
    const random = SECCOMP_ARCHES.map((arch) => ({
      arch,
      policies: fc.sample(policyArb({ libseccomp: true }), {
        seed: SEED,
        numRuns: RANDOM_POLICIES,
      }),
    }));
    const jobs: { arch: SeccompArch; policy: Policy }[] = [
      ...shipped.flatMap((policy) => SECCOMP_ARCHES.map((arch) => ({ arch, policy }))),
      ...random.flatMap(({ arch, policies }) => policies.map((policy) => ({ arch, policy }))),
    ];
    let exported: ExportResult;
    let theirs: SockFilter[][];

    beforeAll(async () => {
      exported = await exportFilters(
        jobs.map(({ policy, arch }) => unwrap(toLibseccompRules(policy, arch))),
      );
      theirs = exported.filters.map((b64) => unwrap(checkProgram(Buffer.from(b64, 'base64'))));
    });

    test.each(SECCOMP_ARCHES)('syscall numbers: our %s table equals libseccomp’s', (arch) => {
      const ours = syscallsOf(arch);
      const numbers = exported.numbers[arch]!;
      const unknownToLibseccomp = ours.filter(([name]) => numbers[name]! < 0).map(([n]) => n);
      expect(unknownToLibseccomp).toEqual([]);
      expect(ours.filter(([name, nr]) => numbers[name] !== nr)).toEqual([]);
      // And the other way round, up to our highest number: libseccomp 2.5.4 as patched by Debian
      // also knows calls newer than Linux 6.1 (cachestat 451 … futex_requeue 456).
      const byNumber = new Map(ours.map(([name, nr]) => [nr, name]));
      const highest = Math.max(...byNumber.keys());
      const disagreements = Object.entries(exported.names[arch]!).filter(
        ([nr, name]) => Number(nr) <= highest && byNumber.get(Number(nr)) !== name,
      );
      expect(disagreements).toEqual([]);
    });

    test.each(
      SECCOMP_POLICY_NAMES.flatMap((name, p) =>
        SECCOMP_ARCHES.map((arch, a) => [name, arch, p * SECCOMP_ARCHES.length + a] as const),
      ),
    )(`policies/seccomp/%s.json: ${POLICY_CALLS} random syscalls on %s`, (_name, arch, index) => {
      compare(jobs[index]!.policy, arch, theirs[index]!, POLICY_CALLS);
    });

    test.each(SECCOMP_ARCHES)(
      `${RANDOM_POLICIES} random policies × ${CALLS_PER_POLICY} random syscalls on %s`,
      (arch) => {
        const offset =
          shipped.length * SECCOMP_ARCHES.length + SECCOMP_ARCHES.indexOf(arch) * RANDOM_POLICIES;
        const { policies } = random.find((r) => r.arch === arch)!;
        policies.forEach((policy, i) =>
          compare(policy, arch, theirs[offset + i]!, CALLS_PER_POLICY),
        );
      },
    );
  },
);

/** Ours, libseccomp's and the reference evaluator's verdicts on `count` random calls. */
function compare(policy: Policy, arch: SeccompArch, libseccomp: SockFilter[], count: number): void {
  const ours = unwrap(checkProgram(compilePolicy(policy, arch).bytes));
  const calls = fc.sample(seccompDataArb(policy, arch), { seed: SEED, numRuns: count });
  let agreed = 0;
  for (const data of calls) {
    const mine = runFilter(ours, data);
    const theirs = runFilter(libseccomp, data);
    const intended = evaluatePolicy(policy, { arch, data });
    if (mine !== theirs || mine !== intended) {
      const args = data.args.map((a) => `0x${a.toString(16)}`).join(', ');
      expect.fail(
        `${arch} nr ${data.nr} arch 0x${data.arch.toString(16)} args [${args}]: ours ` +
          `${describeRet(mine)}, libseccomp ${describeRet(theirs)}, policy ${describeRet(intended)}`,
      );
    }
    agreed++;
  }
  expect(agreed).toBe(count);
}
