import { spawn } from 'node:child_process';
import { chown, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { syscallNumber } from '../src/core/seccomp/arch.js';
import { createSandbox } from '../src/index.js';
import { ensureImage } from '../src/image/build.js';
import { qemuArgs } from '../src/drivers/qemu/args.js';
import { kernelCmdline } from '../src/image/vm-guest.js';
import { spawnJailedVmm } from '../src/drivers/qemu/jail.js';
import { qemuBinary } from '../src/drivers/qemu/launch.js';
import { QmpClient } from '../src/drivers/qemu/qmp.js';
import { makeVmRuntimeDir } from '../src/drivers/qemu/runtime-dir.js';
import { REPO } from './helpers/cli.js';

/**
 * IronClaw's own seccomp filter on the QEMU VMM (policies/seccomp/vmm-qemu.json, installed by
 * the jail's bwrap right before it execs QEMU): in force on a running VM's QEMU on top of QEMU's
 * own filter, the VM still boots and serves exec under it, and a process under it is killed on
 * the calls QEMU never makes — while the same process without it gets through (the control that
 * shows these tests can fail).
 */
const x86 = process.arch === 'x64';
const root = process.getuid?.() === 0;
/** The uid of the jails these tests launch themselves (a sandbox's VMM gets one of its own). */
const VMM_UID = root ? 65534 : (process.getuid?.() ?? -1);
/** The bwrap IronClaw uses (IRONCLAW_BWRAP, as for its boxes and VMM jails). */
const BWRAP = process.env.IRONCLAW_BWRAP ?? 'bwrap';
const missing = !x86 ? 'the qemu driver and these probes are x86_64 only' : await qemuMissing();
const skip = missing === undefined ? '' : ` [skipped: ${missing}]`;

function field(status: string, name: string): string | undefined {
  return new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim();
}

/**
 * The number of seccomp filters on a QEMU started paused (-S) in IronClaw's jail, with or
 * without IronClaw's filter: QEMU installs its own (-sandbox on) before its QMP socket answers.
 */
async function filtersOnPausedQemu(seccomp: 'sandbox' | 'none'): Promise<string | undefined> {
  const image = await ensureImage();
  const runtime = await makeVmRuntimeDir(`filters-${seccomp}`);
  if (root) await chown(runtime.dir, VMM_UID, VMM_UID);
  const args = qemuArgs(
    {
      kernel: image.kernel.path,
      initramfs: image.initramfs,
      agentSocket: runtime.agentSocket,
      qmpSocket: runtime.qmpSocket,
    },
    {
      accel: 'tcg',
      memoryMiB: 128,
      cpus: 1,
      cmdline: kernelCmdline({ accel: 'tcg', tscKhz: undefined, probe: true }),
    },
  );
  const jail = await spawnJailedVmm({
    files: [image.kernel.path, image.initramfs],
    runtimeDir: runtime.dir,
    kvm: false,
    command: [qemuBinary(), ...args, '-S'],
    uid: VMM_UID,
    gid: VMM_UID,
    seccomp,
  });
  const exited = new Promise((resolve) => jail.child.once('close', resolve));
  try {
    const signal = AbortSignal.timeout(20_000);
    const qmp = await QmpClient.connect(runtime.qmpSocket, signal);
    try {
      expect(await qmp.execute('query-status', {}, signal)).toMatchObject({ status: 'prelaunch' });
      const status = await readFile(`/proc/${await jail.pid}/status`, 'utf8');
      expect(field(status, 'Seccomp')).toBe('2');
      return field(status, 'Seccomp_filters');
    } finally {
      qmp.close();
    }
  } finally {
    for (const pid of [await jail.pid.catch(() => undefined), -(jail.child.pid ?? 0)])
      if (pid) process.kill(pid, 'SIGKILL');
    await exited;
    await runtime.remove();
  }
}

describe.skipIf(missing !== undefined)(`the QEMU VMM under IronClaw's allow-list${skip}`, () => {
  test('a VM boots and serves exec under it; its QEMU, unprivileged, runs under two filters', async () => {
    const box = await createSandbox({ driver: 'qemu', startTimeoutMs: 120_000 });
    try {
      const run = await box.exec(['sh', '-c', 'echo under the filter; cat /proc/version']);
      expect(run.stderr.toString()).toBe('');
      expect(run.stdout.toString()).toMatch(/^under the filter\nLinux version/);
      expect(run.exitCode).toBe(0);
      const status = await readFile(`/proc/${box.boxPid}/status`, 'utf8');
      expect(field(status, 'Name')).toBe('qemu-system-x86');
      expect(field(status, 'Seccomp')).toBe('2');
      // Ours (installed by bwrap before the exec) and QEMU's own (-sandbox on).
      expect(field(status, 'Seccomp_filters')).toBe('2');
      const uid = box.isolation.hostUid;
      expectBoxUid(uid);
      expect(field(status, 'Uid')).toBe(`${uid}\t${uid}\t${uid}\t${uid}`);
      expect(field(status, 'NoNewPrivs')).toBe('1');
    } finally {
      await box.destroy();
    }
  }, 180_000);

  test('the second filter is ours: without it (seccomp none) the same QEMU has only its own', async () => {
    expect(await filtersOnPausedQemu('none')).toBe('1');
    expect(await filtersOnPausedQemu('sandbox')).toBe('2');
  }, 60_000);
});

// Installs the compiled vmm-qemu program read from fd 3 (when given one), as bwrap does right
// before it execs QEMU, then makes one raw syscall after saying it is about to: a process killed
// by the filter says "armed" and nothing more, one that got through says what the call returned.
// The program goes in after python's own start-up, which is not QEMU's and is not on its list.
const PROBE = `
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
class Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
args = [ctypes.c_ulong(int(a)) for a in sys.argv[3:]]
if sys.argv[1] == "filtered":
    program = b""
    while True:
        chunk = os.read(3, 65536)
        if not chunk:
            break
        program += chunk
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = Fprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    assert libc.prctl(38, 1, 0, 0, 0) == 0  # PR_SET_NO_NEW_PRIVS
    assert libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) == 0  # PR_SET_SECCOMP, FILTER
os.write(1, b"armed\\n")
result = libc.syscall(ctypes.c_long(int(sys.argv[2])), *args)
os.write(1, b"returned %d errno %d\\n" % (result, ctypes.get_errno()))
os._exit(0)
`;
import { expectBoxUid } from './support/box-uid.js';
import { qemuMissing } from './support/qemu-missing.js';

interface Outcome {
  stdout: string;
  stderr: string;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The probe in a bwrap box, under the compiled vmm-qemu filter (dist/seccomp, as the jail loads it) or not. */
async function probe(filtered: boolean, nr: number, args: number[]): Promise<Outcome> {
  const bpf = await readFile(join(REPO, 'dist', 'seccomp', 'vmm-qemu.x86_64.bpf'));
  const child = spawn(
    BWRAP,
    [
      '--unshare-user',
      '--unshare-pid',
      '--unshare-net',
      '--die-with-parent',
      '--ro-bind',
      '/',
      '/',
      '--dev',
      '/dev',
      '--proc',
      '/proc',
      '--clearenv',
      '--',
      '/usr/bin/python3',
      '-I',
      '-S',
      '-c',
      PROBE,
      filtered ? 'filtered' : 'unfiltered',
      String(nr),
      ...args.map(String),
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe', filtered ? 'pipe' : 'ignore'],
      ...(root ? { uid: VMM_UID, gid: VMM_UID } : {}),
    },
  );
  const program = (child.stdio as unknown[])[3] as NodeJS.WritableStream | null;
  program?.end(bpf);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ stdout, stderr, code, signal }));
  });
}

function nr(name: string): number {
  const number = syscallNumber('x86_64', name);
  if (number === undefined) throw new Error(`no syscall ${name} on x86_64`);
  return number;
}

const AF_INET = 2;
const SOCK_STREAM = 1;
const CLONE_NEWUSER = 0x10000000;
const PTRACE_TRACEME = 0;
const SIGSYS = 31;
const BPF_MAP_CREATE = 0;
/** Calls QEMU never makes, each with arguments that do something when nothing stops them. */
const REFUSED: [string, number, number[]][] = [
  ['mount', nr('mount'), [0, 0, 0, 0, 0]],
  ['ptrace(PTRACE_TRACEME)', nr('ptrace'), [PTRACE_TRACEME, 0, 0, 0]],
  ['socket(AF_INET, SOCK_STREAM)', nr('socket'), [AF_INET, SOCK_STREAM, 0]],
  ['bpf(BPF_MAP_CREATE, NULL)', nr('bpf'), [BPF_MAP_CREATE, 0, 0]],
  ['unshare(CLONE_NEWUSER)', nr('unshare'), [CLONE_NEWUSER]],
  ['process_vm_readv', nr('process_vm_readv'), [1, 0, 0, 0, 0, 0]],
];

describe.skipIf(!x86)(
  `a process under the vmm-qemu profile${x86 ? '' : ' [skipped: the probes are x86_64 only]'}`,
  () => {
    test('starts and makes the calls QEMU makes (the probe itself runs under the profile)', async () => {
      const outcome = await probe(true, nr('getpid'), []);
      expect(outcome.stderr).toBe('');
      expect(outcome.stdout).toMatch(/^armed\nreturned \d+ errno 0\n$/);
      expect(outcome.code).toBe(0);
    });

    test.each(REFUSED)('is killed (SIGSYS) on %s', async (_name, number, args) => {
      const outcome = await probe(true, number, args);
      expect(outcome.stdout).toBe('armed\n');
      // bwrap reports its box's death by a signal as 128 + the signal number.
      expect(outcome.code).toBe(128 + SIGSYS);
    });

    test('gets ENOSYS from io_uring_setup, which QEMU falls back from', async () => {
      const outcome = await probe(true, nr('io_uring_setup'), [1, 0]);
      expect(outcome.stdout).toBe('armed\nreturned -1 errno 38\n');
    });

    // The negative control: the same probes, the same box, without the filter: each call
    // reaches the kernel and returns (its verdict, success or an error, is the kernel's).
    test.each(REFUSED)(
      'without the filter, %s gets through to the kernel',
      async (_name, number, args) => {
        const outcome = await probe(false, number, args);
        expect(outcome.stdout).toMatch(/^armed\nreturned -?\d+ errno \d+\n$/);
        expect(outcome.code).toBe(0);
      },
    );
  },
);
