// The default sandbox profile (policies/seccomp/sandbox.json): it loads, every rule says why, and
// the compiled program refuses what the issue requires, as the policy says, on both
// architectures; the allowed/denied counts printed by the docs come from here.
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { unwrap } from '../src/core/errors.js';
import { describeRet } from '../src/core/seccomp/actions.js';
import {
  AUDIT_ARCH,
  SECCOMP_ARCHES,
  syscallNumber,
  type SeccompArch,
} from '../src/core/seccomp/arch.js';
import { compilePolicy } from '../src/core/seccomp/compile.js';
import { compilePolicyForHost, SANDBOX_POLICY_FILE } from '../src/core/seccomp/compile-for-host.js';
import { evaluatePolicy } from '../src/core/seccomp/evaluate-policy.js';
import { checkProgram, runFilter } from '../src/core/seccomp/interpreter.js';
import { loadPolicy } from '../src/core/seccomp/load-policy.js';
import { policyStats } from '../src/core/seccomp/policy-stats.js';

const json: unknown = JSON.parse(await readFile(SANDBOX_POLICY_FILE, 'utf8'));
const policy = unwrap(loadPolicy(json, SANDBOX_POLICY_FILE));
const EPERM = 'errno(1)';
const ENOSYS = 'errno(38)';

const DENIED_EPERM = [
  ...[
    'mount',
    'umount2',
    'pivot_root',
    'chroot',
    'ptrace',
    'process_vm_readv',
    'process_vm_writev',
  ],
  ...['kexec_load', 'kexec_file_load', 'init_module', 'finit_module', 'delete_module', 'bpf'],
  ...['perf_event_open', 'userfaultfd', 'keyctl', 'add_key', 'request_key', 'unshare', 'setns'],
  ...['open_by_handle_at', 'name_to_handle_at', 'swapon', 'swapoff', 'reboot', 'acct', 'quotactl'],
  ...['fsopen', 'fsmount', 'move_mount', 'open_tree', 'pidfd_getfd'],
];
const DENIED_ENOSYS = ['clone3', 'io_uring_setup', 'io_uring_enter', 'io_uring_register'];
const ALLOWED = [
  'read',
  'write',
  'openat',
  'execve',
  'mmap',
  'futex',
  'wait4',
  'pipe2',
  'kill',
  'prctl',
  'seccomp',
];

const AF = {
  UNIX: 1n,
  INET: 2n,
  IPX: 4n,
  INET6: 10n,
  KEY: 15n,
  NETLINK: 16n,
  PACKET: 17n,
  ALG: 38n,
  VSOCK: 40n,
};
const SOCK = {
  STREAM: 1n,
  DGRAM: 2n,
  RAW: 3n,
  PACKET: 10n,
  NONBLOCK: 0o4000n,
  CLOEXEC: 0o2000000n,
};
const GARBAGE = 0xdead_beef_0000_0000n;
const CLONE_NEW = {
  NS: 0x20000n,
  CGROUP: 0x2000000n,
  UTS: 0x4000000n,
  IPC: 0x8000000n,
  USER: 0x10000000n,
  PID: 0x20000000n,
  NET: 0x40000000n,
};
const THREAD_FLAGS = 0x3d0f00n; // what glibc's pthread_create passes
const SIGCHLD = 17n;

describe.each(SECCOMP_ARCHES)('the sandbox policy on %s', (arch) => {
  const program = unwrap(checkProgram(compilePolicy(policy, arch).bytes));
  const call = (name: string, ...args: bigint[]): string => {
    const nr = syscallNumber(arch, name);
    if (nr === undefined) throw new Error(`${name} does not exist on ${arch}`);
    const data = { nr, arch: AUDIT_ARCH[arch], args };
    const ret = runFilter(program, data);
    expect(ret).toBe(evaluatePolicy(policy, { arch, data }));
    return describeRet(ret);
  };

  it.each(DENIED_EPERM)('refuses %s with EPERM', (name) => expect(call(name)).toBe(EPERM));
  it.each(DENIED_ENOSYS)('refuses %s with ENOSYS so that callers fall back', (name) =>
    expect(call(name)).toBe(ENOSYS),
  );
  it.each(ALLOWED)('allows %s', (name) => expect(call(name)).toBe('allow'));

  it('refuses iopl and ioperm where they exist (x86_64 only)', () => {
    if (arch === 'x86_64') {
      expect(call('iopl', 3n)).toBe(EPERM);
      expect(call('ioperm', 0n, 1024n, 1n)).toBe(EPERM);
    } else {
      expect(syscallNumber(arch, 'iopl')).toBeUndefined();
    }
  });

  it('allows AF_UNIX, AF_INET and AF_INET6 sockets and refuses the other families', () => {
    for (const name of ['socket', 'socketpair']) {
      expect(call(name, AF.UNIX, SOCK.STREAM | SOCK.CLOEXEC)).toBe('allow');
      expect(call(name, AF.INET, SOCK.DGRAM | SOCK.NONBLOCK)).toBe('allow');
      expect(call(name, AF.INET6, SOCK.STREAM)).toBe('allow');
      for (const family of [AF.NETLINK, AF.PACKET, AF.VSOCK, AF.ALG, AF.KEY, AF.IPX, 0xffffffffn]) {
        expect(call(name, family, SOCK.DGRAM), `family ${family}`).toBe(EPERM);
      }
    }
  });

  it('judges the socket family by the 32 bits the kernel reads', () => {
    expect(call('socket', GARBAGE | AF.NETLINK, SOCK.RAW)).toBe(EPERM); // kernel sees AF_NETLINK
    expect(call('socket', GARBAGE | AF.INET, SOCK.STREAM)).toBe('allow'); // kernel sees AF_INET
  });

  it('refuses SOCK_RAW and SOCK_PACKET whatever flags are or-ed in', () => {
    expect(call('socket', AF.INET, SOCK.RAW)).toBe(EPERM);
    expect(call('socket', AF.INET6, SOCK.RAW | SOCK.CLOEXEC | SOCK.NONBLOCK)).toBe(EPERM);
    expect(call('socket', AF.INET, GARBAGE | SOCK.RAW)).toBe(EPERM);
    expect(call('socket', AF.INET, SOCK.PACKET)).toBe(EPERM);
  });

  it('refuses clone with any namespace flag, and allows fork and thread creation', () => {
    expect(call('clone', SIGCHLD)).toBe('allow');
    expect(call('clone', THREAD_FLAGS)).toBe('allow');
    expect(call('clone', GARBAGE | SIGCHLD)).toBe('allow');
    for (const [name, flag] of Object.entries(CLONE_NEW)) {
      expect(call('clone', flag | SIGCHLD), `CLONE_NEW${name}`).toBe(EPERM);
      expect(call('clone', GARBAGE | flag | THREAD_FLAGS), `CLONE_NEW${name} with garbage`).toBe(
        EPERM,
      );
    }
  });

  it('refuses mknod of character and block devices, whatever the upper bits, and allows the rest', () => {
    const S_IF = {
      FIFO: 0o010000n,
      CHR: 0o020000n,
      DIR: 0o040000n,
      BLK: 0o060000n,
      REG: 0o100000n,
    };
    const dev = 0x0103n; // 1:3, /dev/null
    for (const [type, denied] of [
      [S_IF.CHR, true],
      [S_IF.BLK, true],
      [S_IF.FIFO, false],
      [S_IF.REG, false],
      [0n, false], // a regular file
      [S_IF.DIR, false],
    ] as const) {
      const verdict = denied ? EPERM : 'allow';
      const mode = type | 0o600n;
      if (syscallNumber(arch, 'mknod') !== undefined) {
        expect(call('mknod', 0n, mode, dev), `mknod 0o${mode.toString(8)}`).toBe(verdict);
        expect(call('mknod', 0n, GARBAGE | mode, dev)).toBe(verdict);
      }
      expect(call('mknodat', 0n, 0n, mode, dev), `mknodat 0o${mode.toString(8)}`).toBe(verdict);
      expect(call('mknodat', 0n, 0n, GARBAGE | mode, dev)).toBe(verdict);
    }
  });

  it('refuses the TIOCSTI and TIOCLINUX ioctls and nothing else', () => {
    expect(call('ioctl', 0n, 0x5412n)).toBe(EPERM);
    expect(call('ioctl', 0n, GARBAGE | 0x5412n)).toBe(EPERM);
    expect(call('ioctl', 0n, 0x541cn)).toBe(EPERM);
    expect(call('ioctl', 0n, 0x5401n)).toBe('allow'); // TCGETS
    expect(call('ioctl', 0x5412n, 0x5413n)).toBe('allow'); // TIOCGWINSZ; the fd does not matter
  });

  it('allows only the plain Linux personalities', () => {
    for (const persona of [0n, 8n, 0x20000n, 0x20008n, 0xffffffffn, GARBAGE]) {
      expect(call('personality', persona), `0x${persona.toString(16)}`).toBe('allow');
    }
    for (const persona of [
      1n,
      7n,
      9n,
      0x40000n,
      0x400000n,
      0x100000n,
      0x20001n,
      0xfffffffen,
      GARBAGE | 0x40000n,
    ]) {
      expect(call('personality', persona), `0x${persona.toString(16)}`).toBe(EPERM);
    }
  });

  it('kills calls under another architecture and, on x86_64, x32 calls', () => {
    const data = { nr: 0, arch: 0x40000003, args: [] };
    expect(describeRet(runFilter(program, data))).toBe('kill-process');
    const x32 = { nr: 0x40000000 + 165, arch: AUDIT_ARCH[arch], args: [] };
    expect(describeRet(runFilter(program, x32))).toBe(arch === 'x86_64' ? 'kill-process' : 'allow');
  });

  it('counts allowed, denied and conditional syscalls from the compiled program', () => {
    const stats = policyStats(policy, arch);
    console.log(
      `sandbox policy on ${arch}: ${stats.total} syscalls, ${stats.allowed} allowed, ` +
        `${stats.denied} denied (${JSON.stringify(stats.byOutcome)}), ${stats.conditional} conditional ` +
        `(${stats.conditionalSyscalls.join(', ')}); ${compilePolicy(policy, arch).instructions} instructions`,
    );
    expect(stats.allowed + stats.denied + stats.conditional).toBe(stats.total);
    const required = [...DENIED_EPERM, ...DENIED_ENOSYS].filter(
      (n) => syscallNumber(arch, n) !== undefined,
    );
    expect(stats.deniedSyscalls).toEqual(expect.arrayContaining(required));
    expect(stats.conditionalSyscalls.sort()).toEqual(
      ['clone', 'ioctl', 'mknod', 'mknodat', 'personality', 'socket', 'socketpair'].filter(
        (name) => syscallNumber(arch, name) !== undefined, // aarch64 has no mknod, only mknodat
      ),
    );
    expect(stats.allowed).toBeGreaterThan(stats.denied * 4); // a deny-list profile
  });
});

describe('the policy file', () => {
  it('gives a reason of substance on every rule', () => {
    for (const rule of policy.rules)
      expect(rule.reason.length, rule.syscalls.join()).toBeGreaterThan(40);
    expect(policy.defaultReason).toMatch(/AF_UNIX/);
  });

  it('compiles for the host, and fails closed on an unsupported CPU', () => {
    const arch: SeccompArch = process.arch === 'arm64' ? 'aarch64' : 'x86_64';
    const host = compilePolicyForHost(json, { nodeArch: process.arch });
    expect(host.ok && host.value.arch).toBe(arch);
    expect(compilePolicyForHost(json, { nodeArch: 'ia32' })).toMatchObject({
      ok: false,
      code: 'POLICY_UNENFORCEABLE',
    });
    expect(
      compilePolicyForHost({ ...(json as object), rules: 7 }, { nodeArch: 'x64' }),
    ).toMatchObject({ ok: false, code: 'INVALID_ARGUMENT' });
  });
});
