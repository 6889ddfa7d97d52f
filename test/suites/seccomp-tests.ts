import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { unwrap } from '../../src/core/errors.js';
import { describeRet } from '../../src/core/seccomp/actions.js';
import {
  AUDIT_ARCH,
  seccompArchOf,
  syscallNumber,
  type SeccompArch,
} from '../../src/core/seccomp/arch.js';
import { SANDBOX_POLICY_FILE } from '../../src/core/seccomp/compile-for-host.js';
import { evaluatePolicy } from '../../src/core/seccomp/evaluate-policy.js';
import { loadPolicy } from '../../src/core/seccomp/load-policy.js';
import type { Policy } from '../../src/core/seccomp/policy.js';
import { policyStats } from '../../src/core/seccomp/policy-stats.js';
import { runscBinary } from '../../src/drivers/gvisor/platform.js';
import type { Sandbox } from '../../src/index.js';
import { REPO } from '../helpers/cli.js';
import type { SuiteContext } from './suite-context.js';

/**
 * Runs each case's steps (raw syscalls, strings passed as pointers to them) and reports the last
 * step's result and errno; in a child of its own when asked, so that an unshare does not leak
 * into the next case (a fork costs tens of milliseconds under gVisor's ptrace platform).
 */
const PROBE = `
import ctypes, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def arg(a):
    return ctypes.c_char_p(a.encode()) if isinstance(a, str) else ctypes.c_ulong(a)
def call(nr, args):
    ctypes.set_errno(0)
    result = libc.syscall(ctypes.c_long(nr), *[arg(a) for a in args])
    return [result, ctypes.get_errno()]
out = {}
for name, steps, isolate in json.load(sys.stdin):
    if not isolate:
        for nr, args in steps:
            result = call(nr, args)
        out[name] = result
        continue
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        for nr, args in steps:
            result = call(nr, args)
        os.write(wfd, json.dumps(result).encode())
        os._exit(0)
    os.close(wfd)
    data = os.read(rfd, 4096)
    os.close(rfd)
    os.waitpid(pid, 0)
    out[name] = json.loads(data) if data else None
print(json.dumps(out))
`;

type Arg = number | string;
type Outcome = [result: number, errno: number];
const ERRNO = { ENOENT: 2, EFAULT: 14 } as const;

interface Case {
  name: string;
  steps: [syscall: string, args: Arg[]][];
  /** What the call gets when it reaches the kernel (gVisor's or the host's), filter off. */
  reached: 'succeeds' | { errno: number } | 'not the filter errno';
  /** Run in a child of its own (the default). */
  isolate?: boolean;
}

const CLONE_NEWUSER = 0x10000000;
const AF_NETLINK = 16;
const SOCK_RAW = 3;
const AT_FDCWD = -100;
const S_IFCHR = 0o020000;

/**
 * The calls issue 16 names, with arguments that make each do something when nothing stops it.
 * The garbage above AF_NETLINK is what the kernel drops when it truncates the int. bpf runs in a
 * user namespace of its own when one can be made: gVisor's kernel answers bpf with EPERM to a
 * caller without CAP_SYS_ADMIN (the filter's errno too), and ENOSYS to one that has it there.
 * mknodat aims at a missing directory: a kernel without the filter resolves the path first
 * (ENOENT), where the host's kernel would otherwise refuse a device for want of CAP_MKNOD
 * with the filter's EPERM.
 */
const CASES: Case[] = [
  { name: 'ptrace(PTRACE_TRACEME)', steps: [['ptrace', [0, 0, 0, 0]]], reached: 'succeeds' },
  {
    name: 'io_uring_setup(1, NULL)',
    steps: [['io_uring_setup', [1, 0]]],
    reached: { errno: ERRNO.EFAULT },
  },
  {
    name: 'perf_event_open(NULL, 0, -1, -1, 0)',
    steps: [['perf_event_open', [0, 0, -1, -1, 0]]],
    reached: 'not the filter errno',
  },
  {
    name: 'keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING)',
    steps: [['keyctl', [0, -3, 0]]],
    reached: 'not the filter errno',
  },
  {
    name: 'bpf(9999, NULL, 0) in a new user namespace',
    steps: [
      ['unshare', [CLONE_NEWUSER]],
      ['bpf', [9999, 0, 0]],
    ],
    reached: 'not the filter errno',
  },
  { name: 'unshare(CLONE_NEWUSER)', steps: [['unshare', [CLONE_NEWUSER]]], reached: 'succeeds' },
  {
    name: 'mknodat(AT_FDCWD, "/tmp/no-such-dir/null", S_IFCHR | 0600, 1:3)',
    steps: [['mknodat', [AT_FDCWD, '/tmp/no-such-dir/null', S_IFCHR | 0o600, 0x103]]],
    reached: { errno: ERRNO.ENOENT },
  },
  {
    name: 'socket(0xdead << 32 | AF_NETLINK, SOCK_RAW, 0)',
    steps: [['socket', [0xdead_0000_0000 + AF_NETLINK, SOCK_RAW, 0]]],
    reached: 'succeeds',
  },
];

/** The errno the sandbox policy gives the last step of `c`, by the policy itself. */
function policyErrno(policy: Policy, arch: SeccompArch, c: Case): number {
  const [name, args] = c.steps.at(-1)!;
  const data = {
    nr: syscallNumber(arch, name)!,
    arch: AUDIT_ARCH[arch],
    args: args.map((a) => (typeof a === 'string' ? 0n : BigInt.asUintN(64, BigInt(a)))),
  };
  const verdict = describeRet(evaluatePolicy(policy, { arch, data }));
  const errno = /^errno\((\d+)\)$/.exec(verdict)?.[1];
  if (errno === undefined) throw new Error(`the sandbox policy does not deny ${c.name}`);
  return Number(errno);
}

/**
 * Names of the policy that gVisor's syscall table lacks (runsc 20221219 and 20240729): runsc
 * skips them when it builds the filter, and its kernel answers ENOSYS, having no such call.
 */
const NOT_IN_GVISOR = new Set(['mount_setattr', 'pidfd_getfd', 'quotactl_fd']);
const ENOSYS = 38;

/**
 * runsc 2023 and later keep io_uring out of gVisor's kernel unless started with --iouring (a
 * test-only flag), so there io_uring_setup gets ENOSYS with or without the filter: no negative
 * control can show the filter at work for it, and the case says so instead of passing vacuously.
 */
const GVISOR_WITHOUT_IO_URING = await runscBinary().then(
  (runsc) =>
    new Promise<boolean>((resolve) =>
      execFile(runsc, ['flags'], (_, stdout, stderr) =>
        resolve(/^\s*-iouring$/m.test(`${stdout}${stderr}`)),
      ),
    ),
  () => false,
);

/** Why the negative control cannot run for a case on this driver, if it cannot. */
function unreachable(driver: string, c: Case): string | undefined {
  if (driver === 'gvisor' && GVISOR_WITHOUT_IO_URING && c.name.startsWith('io_uring'))
    return "this runsc's gVisor kernel has io_uring off (runsc --iouring is test-only): ENOSYS either way";
  return undefined;
}

async function probe(
  box: Sandbox,
  arch: SeccompArch,
  cases: readonly Case[] = CASES,
): Promise<Record<string, Outcome | null>> {
  const steps = cases.map((c) => [
    c.name,
    c.steps.map(([name, args]) => [syscallNumber(arch, name), args]),
    c.isolate !== false,
  ]);
  await box.writeFile('/tmp/probe.py', PROBE);
  const run = await box.exec(['/usr/bin/python3', '/tmp/probe.py'], {
    stdin: JSON.stringify(steps),
  });
  expect(run.exitCode, run.stderr.toString()).toBe(0);
  return JSON.parse(run.stdout.toString()) as Record<string, Outcome | null>;
}

/**
 * IronClaw's syscall policy (policies/seccomp/sandbox.json) in every driver that applies it to
 * box processes: each call issue 16 names fails in the box with the policy's errno, and the same
 * probe in a box created with `seccomp: 'none'` reaches the call (the negative control).
 */
export function defineSeccompTests(ctx: SuiteContext): void {
  const arch = seccompArchOf(process.arch);
  const notYet =
    arch === undefined ? `no sandbox policy for CPU architecture ${process.arch}` : undefined;
  if (notYet !== undefined || arch === undefined) {
    describe('the sandbox seccomp policy', () => {
      test.skip(`refuses ptrace, io_uring, perf, keyrings, bpf, user namespaces, device nodes and other socket families [skipped: ${notYet}]`, () =>
        undefined);
    });
    return;
  }
  describe('the sandbox seccomp policy', () => {
    let filtered: Sandbox;
    let unfiltered: Sandbox;
    let denied: Record<string, Outcome | null>;
    let reached: Record<string, Outcome | null>;
    let expectedErrno: Map<string, number>;
    let policy: Policy;

    beforeAll(async () => {
      const file = join(REPO, SANDBOX_POLICY_FILE);
      policy = unwrap(loadPolicy(JSON.parse(await readFile(file, 'utf8')), file));
      expectedErrno = new Map(CASES.map((c) => [c.name, policyErrno(policy, arch, c)]));
      [filtered, unfiltered] = await Promise.all([ctx.create(), ctx.create({ seccomp: 'none' })]);
      [denied, reached] = await Promise.all([probe(filtered, arch), probe(unfiltered, arch)]);
    });
    afterAll(async () => {
      await Promise.allSettled([filtered?.destroy(), unfiltered?.destroy()]);
    });

    test.each(CASES.map((c) => [c.name, c] as const))(
      '%s fails with the errno the policy gives it',
      (name) => {
        expect([name, denied[name]]).toEqual([name, [-1, expectedErrno.get(name)]]);
      },
    );

    for (const c of CASES) {
      const why = unreachable(ctx.driver, c);
      if (why !== undefined)
        test.skip(`negative control: with seccomp 'none', ${c.name} reaches the kernel [skipped: ${why}]`, () =>
          undefined);
    }

    test.each(
      CASES.filter((c) => unreachable(ctx.driver, c) === undefined).map(
        (c) => [c.name, c] as const,
      ),
    )("negative control: with seccomp 'none', %s reaches the kernel", (name, c) => {
      const outcome = reached[name];
      const filterSays: Outcome = [-1, expectedErrno.get(name)!];
      expect(outcome, name).not.toBeNull();
      expect([name, outcome]).not.toEqual([name, filterSays]);
      if (c.reached === 'succeeds') expect(outcome![0], name).toBeGreaterThanOrEqual(0);
      else if (c.reached !== 'not the filter errno') {
        expect([name, outcome]).toEqual([name, [-1, c.reached.errno]]);
      }
    });

    test(`every syscall the policy denies whatever its arguments fails with the policy's errno${ctx.driver === 'gvisor' ? ' (or ENOSYS, for those gVisor has no call for)' : ''}`, async () => {
      const names = policyStats(policy, arch).deniedSyscalls;
      expect(names.length).toBeGreaterThan(40);
      const cases = names.map((name): Case => ({
        name,
        steps: [[name, []]],
        reached: 'not the filter errno',
        isolate: false, // every one is refused: nothing changes the probe
      }));
      const results = await probe(filtered, arch, cases);
      for (const c of cases) {
        const errno = policyErrno(policy, arch, c);
        const got = results[c.name];
        if (ctx.driver === 'gvisor' && NOT_IN_GVISOR.has(c.name) && got?.[1] === ENOSYS) continue;
        expect([c.name, got]).toEqual([c.name, [-1, errno]]);
      }
    }, 60_000);

    // In a VM guest the agent is not filtered (node cannot filter itself): a command that could
    // write its memory could make it run any call. Elsewhere the agent is filtered as well.
    test.skipIf(ctx.options.vm !== true)(
      `a command cannot reach the unfiltered agent's memory; with seccomp 'none' it can${ctx.options.vm === true ? '' : ' [skipped: the agent is filtered too outside a VM guest]'}`,
      async () => {
        const script = `import os\ntry:\n    os.close(os.open("/proc/%d/mem" % os.getppid(), os.O_RDWR))\n    print("opened")\nexcept OSError as error:\n    print(error.strerror)\n`;
        const argv = ['/usr/bin/python3', '-c', script];
        const [on, off] = await Promise.all([filtered.exec(argv), unfiltered.exec(argv)]);
        expect(on.stdout.toString()).toBe('Permission denied\n');
        expect(off.stdout.toString()).toBe('opened\n');
      },
    );

    test('every box process runs under the policy, threads still start, and the report says so', async () => {
      const script =
        'grep "^Seccomp:" /proc/self/status; python3 -c "import threading; t = threading.Thread(target=print, args=(\'thread\',)); t.start(); t.join()"';
      const [on, off] = await Promise.all([filtered.exec(script), unfiltered.exec(script)]);
      expect(on.stdout.toString()).toMatch(/^Seccomp:\s+2\nthread\n$/);
      expect(off.stdout.toString()).toMatch(/^Seccomp:\s+0\nthread\n$/);
      expect(filtered.isolation.layers.seccomp).toMatchObject({
        on: true,
        detail: expect.stringContaining('policy "sandbox"') as unknown,
      });
      expect(unfiltered.isolation.layers.seccomp).toMatchObject({
        on: false,
        detail: expect.stringContaining('turned off by the caller') as unknown,
      });
    });
  });
}
