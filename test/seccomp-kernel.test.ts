import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AUDIT_ARCH, syscallNumber } from '../src/core/seccomp/arch.js';
import { describeRet } from '../src/core/seccomp/actions.js';
import type { SockFilter } from '../src/core/seccomp/bpf.js';
import { checkProgram, runFilter } from '../src/core/seccomp/interpreter.js';
import { unwrap } from '../src/core/errors.js';
import { createSandbox, type Sandbox } from '../src/index.js';
import { REPO } from './helpers/cli.js';

/**
 * Tier three of the seccomp proof: the compiled sandbox filter, applied by bwrap in real boxes,
 * makes each denied syscall fail exactly as the policy says, while ordinary workloads still run;
 * and with the filter off the same probes get through (a negative control: these tests can fail).
 */
const x86 = process.arch === 'x64';

/** Calls each syscall with the given raw arguments and reports the result and errno. */
const PROBE = `
import ctypes, json, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
out = []
for name, nr, args in json.load(sys.stdin):
    ctypes.set_errno(0)
    result = libc.syscall(ctypes.c_long(nr), *[ctypes.c_ulong(a) for a in args])
    out.append([name, result, ctypes.get_errno()])
print(json.dumps(out))
`;

type Case = [name: string, nr: number, args: number[]];

const ERRNO = { EPERM: 1, ENOSYS: 38 } as const;

async function probe(
  sandbox: Sandbox,
  cases: Case[],
): Promise<Map<string, { result: number; errno: number }>> {
  await sandbox.writeFile('/tmp/probe.py', PROBE);
  const run = await sandbox.exec(['/usr/bin/python3', '/tmp/probe.py'], {
    stdin: JSON.stringify(cases),
  });
  expect(run.exitCode, run.stderr.toString()).toBe(0);
  const rows = JSON.parse(run.stdout.toString()) as [string, number, number][];
  return new Map(rows.map(([name, result, errno]) => [name, { result, errno }]));
}

function nr(name: string): number {
  const number = syscallNumber('x86_64', name);
  if (number === undefined) throw new Error(`no syscall ${name} on x86_64`);
  return number;
}

// Arguments that make each call do something real when nothing stops it.
const CLONE_NEWUSER = 0x10000000;
const AF_NETLINK = 16;
const SOCK_RAW = 3;
const ADDR_NO_RANDOMIZE = 0x0040000;
const ATTACKS: Case[] = [
  ['unshare(CLONE_NEWUSER)', nr('unshare'), [CLONE_NEWUSER]],
  ['socket(AF_NETLINK, SOCK_RAW)', nr('socket'), [AF_NETLINK, SOCK_RAW, 0]],
  ['io_uring_setup(1, NULL)', nr('io_uring_setup'), [1, 0]],
  ['personality(ADDR_NO_RANDOMIZE)', nr('personality'), [ADDR_NO_RANDOMIZE]],
  // Upper 32 bits set: the kernel truncates the int, so this is AF_NETLINK all the same.
  ['socket(garbage:AF_NETLINK)', nr('socket'), [0x1_0000_0010, SOCK_RAW, 0]],
];

describe.skipIf(!x86)(
  `seccomp in real bwrap boxes${x86 ? '' : ' [skipped: the kernel probes are written for x86_64]'}`,
  () => {
    let program: SockFilter[];
    let denied: string[];
    let filtered: Sandbox;
    let unfiltered: Sandbox;

    beforeAll(async () => {
      const base = join(REPO, 'dist', 'seccomp', 'sandbox.x86_64');
      program = unwrap(checkProgram(await readFile(`${base}.bpf`)));
      denied = (JSON.parse(await readFile(`${base}.json`, 'utf8')) as { deniedSyscalls: string[] })
        .deniedSyscalls;
      [filtered, unfiltered] = await Promise.all([
        createSandbox(),
        createSandbox({ seccomp: 'none' }),
      ]);
    });
    afterAll(async () => {
      await Promise.allSettled([filtered.destroy(), unfiltered.destroy()]);
    });

    /** What the compiled filter says a call gets: errno(N), or allow. */
    function verdict(call: Case): string {
      return describeRet(
        runFilter(program, { nr: call[1], arch: AUDIT_ARCH.x86_64, args: call[2].map(BigInt) }),
      );
    }

    test('every syscall the policy denies fails in the box with the errno the filter returns', async () => {
      expect(denied.length).toBeGreaterThan(30);
      const cases: Case[] = denied.map((name) => [name, nr(name), []]);
      const results = await probe(filtered, cases);
      for (const call of cases) {
        const expected = verdict(call);
        const errno = Number(/^errno\((\d+)\)$/.exec(expected)?.[1]);
        expect([call[0], results.get(call[0])]).toEqual([call[0], { result: -1, errno }]);
      }
    });

    test('argument-dependent denials hold, 64-bit garbage included', async () => {
      const results = await probe(filtered, ATTACKS);
      for (const call of ATTACKS) {
        expect(verdict(call)).toMatch(/^errno/);
        const errno = call[0].startsWith('io_uring') ? ERRNO.ENOSYS : ERRNO.EPERM;
        expect([call[0], results.get(call[0])]).toEqual([call[0], { result: -1, errno }]);
      }
    });

    test('negative control: without the filter the same attacks get through', async () => {
      expect(unfiltered.isolation.layers.seccomp.on).toBe(false);
      const results = await probe(unfiltered, ATTACKS);
      expect(results.get('unshare(CLONE_NEWUSER)')?.result).toBe(0);
      expect(results.get('socket(AF_NETLINK, SOCK_RAW)')?.result).toBeGreaterThanOrEqual(0);
      expect(results.get('io_uring_setup(1, NULL)')?.errno).not.toBe(ERRNO.ENOSYS);
      expect(results.get('personality(ADDR_NO_RANDOMIZE)')?.result).toBeGreaterThanOrEqual(0);
    });

    test('every process of a filtered box runs under the filter (Seccomp: 2)', async () => {
      const run = await filtered.exec(
        'sleep 5 & for s in /proc/[0-9]*/status; do grep -H "^Seccomp:" "$s"; done; kill %1',
      );
      const lines = run.stdout.toString().trim().split('\n');
      expect(lines.length).toBeGreaterThanOrEqual(4); // bwrap's pid 1, the agent, sh, sleep, grep
      for (const line of lines) expect(line).toMatch(/Seccomp:\s+2$/);
      expect(filtered.isolation.layers.seccomp).toMatchObject({
        on: true,
        detail: expect.stringContaining('syscalls denied') as unknown,
      });
    });

    test('ordinary workloads still run: sh, coreutils, python3, node, git, a C compiler', async () => {
      const script = [
        'set -e',
        'cd /tmp',
        'printf "b\\na\\n" | sort | sha256sum > /dev/null',
        'python3 -c "import multiprocessing as m; print(sum(m.Pool(2).map(abs, [-1, -2])))"',
        `${process.execPath} -e "require('node:child_process').execFileSync('true'); console.log('node ok')"`,
        'git init -q repo && cd repo && git -c user.email=a@b -c user.name=a commit -q --allow-empty -m x && git log --oneline | wc -l',
        'cd /tmp && printf "int main(void){return 7;}" > t.c && cc -o t t.c',
        'status=0; ./t || status=$?; echo "c exit $status"',
      ].join('\n');
      const run = await filtered.exec(script, { timeoutMs: 60_000 });
      expect(run.stderr.toString()).toBe('');
      expect(run.stdout.toString().split('\n')).toEqual(['3', 'node ok', '1', 'c exit 7', '']);
      expect(run.exitCode).toBe(0);
    });
  },
);

describe('the compiled filters boxes and VMM jails load', () => {
  test.each(['sandbox', 'vmm-qemu', 'vmm-firecracker'] as const)(
    'equal a fresh compilation of policies/seccomp/%s.json, for each architecture',
    async (name) => {
      const { compilePolicyForHost, seccompPolicyFile } =
        await import('../src/core/seccomp/index.js');
      const file = join(REPO, seccompPolicyFile(name));
      const policy = JSON.parse(await readFile(file, 'utf8')) as unknown;
      for (const [nodeArch, arch] of [
        ['x64', 'x86_64'],
        ['arm64', 'aarch64'],
      ] as const) {
        const fresh = unwrap(compilePolicyForHost(policy, { nodeArch }));
        const built = await readFile(join(REPO, 'dist', 'seccomp', `${name}.${arch}.bpf`));
        expect(Buffer.compare(built, fresh.bytes)).toBe(0);
      }
    },
  );
});
