// Derives the seccomp allow-list of the QEMU VMM (policies/seccomp/vmm-qemu.json) by tracing it.
// This script runs itself again under `strace -f` and drives IronClaw's own QEMU code, bundled
// from src/ (so QEMU runs on the driver's command lines, in the driver's jail): the qemu driver
// (a VM template booted with its RAM in a memory-backend-file, saved by migration to a unix:
// socket with x-ignore-shared, clones restored from it with -incoming defer + migrate-incoming,
// exec and file traffic, QMP commands, destroy by QMP quit), a cold-booted VM whose agent chardev
// reconnects, and a VM under KVM where /dev/kvm opens. QEMU runs under a tracing filter (all
// allowed but the errno answers of the policy, so the trace shows the path QEMU takes under it).
// Every syscall of each QEMU, from its execve on (bwrap installs the filter right before that
// exec) and of all its threads, becomes an allow rule with its reason from REASONS; clone,
// socket, ioctl and prctl get argument conditions (rulesFor).
//
//   node scripts/trace-vmm.mjs               trace, then merge into the policy (rules kept)
//   node scripts/trace-vmm.mjs --replace     trace, then write only what this trace saw
//   node scripts/trace-vmm.mjs --dry-run     trace and print the policy, write nothing
//   node scripts/trace-vmm.mjs --keep        keep the trace (its directory is printed)
//   node scripts/trace-vmm.mjs --from DIR    derive again from a kept trace, run nothing
//
// Needs: root (the VMM runs as nobody, as under IronClaw), strace (installed with apt-get when
// missing), qemu-system-x86_64, bwrap, and `npm run build` having run (the guest image). About
// two minutes under TCG; the trace is a few hundred MB in the temp directory while it runs.
import { execFile as execFileCallback } from 'node:child_process';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { release, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';

const execFile = promisify(execFileCallback);
const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const POLICY = join(REPO, 'policies', 'seccomp', 'vmm-qemu.json');
const VMM_UID = 65534;
const flags = new Set(process.argv.slice(2));

async function main() {
  if (process.getuid() !== 0)
    throw new Error('run me as root: the VMM runs as nobody, as under IronClaw');
  const inner = process.env.TRACE_VMM_INNER;
  if (inner) {
    await runWorkloads(inner);
    return;
  }
  const from = process.argv[process.argv.indexOf('--from') + 1];
  if (flags.has('--from') && from) {
    // A kept trace (--keep) derived again, without running anything.
    const phases = JSON.parse(
      await readFile(join(from, 'phases.json'), 'utf8').catch(() => '{"phases":[]}'),
    );
    await writePolicy(await collect(join(from, 'trace'), phases.phases), phases.version);
    return;
  }
  await ensureStrace();
  const work = await mkdtemp(join(tmpdir(), 'ironclaw-trace-'));
  try {
    const compiled = (await loadHelpers()).compilePolicyForHost(TRACING_POLICY, {
      nodeArch: process.arch,
    });
    if (!compiled.ok) throw new Error(compiled.message);
    await writeFile(join(work, 'tracing.bpf'), compiled.value.bytes);
    // This script again, under strace: every process it starts is traced, QEMU included, and
    // each QEMU is found in the trace by its execve.
    log(`tracing into ${work}`);
    await execFile(
      'strace',
      ['-f', '-qq', '-ttt', '-X', 'raw', '--decode-pids=pidns', '-s', '64', '-e', 'trace=all']
        .concat(['-o', join(work, 'trace')])
        .concat(['--', process.execPath, fileURLToPath(import.meta.url)]),
      {
        env: { ...process.env, TRACE_VMM_INNER: work, TRACE_VMM_FILTER: join(work, 'tracing.bpf') },
        maxBuffer: 64 * 1024 ** 2,
      },
    ).catch((error) => {
      throw new Error(`the traced run failed:\n${error.stderr ?? error.message}`);
    });
    const phases = JSON.parse(await readFile(join(work, 'phases.json'), 'utf8'));
    const seen = await collect(join(work, 'trace'), phases.phases);
    await writePolicy(seen, phases.version);
  } finally {
    if (!flags.has('--keep')) await rm(work, { recursive: true, force: true });
  }
}

/**
 * The filter QEMU is traced under: everything allowed but what the policy answers with an errno
 * that QEMU handles by taking another path (clone3 → clone, io_uring → ppoll), so the trace
 * shows the path QEMU takes under the policy.
 */
const TRACING_POLICY = {
  name: 'vmm-qemu-tracing',
  defaultAction: 'allow',
  defaultReason: 'Tracing: every call is let through and recorded.',
  rules: [
    {
      syscalls: ['clone3', 'io_uring_setup', 'io_uring_enter', 'io_uring_register'],
      action: { errno: 'ENOSYS' },
      reason: 'As the policy answers them (see rulesFor).',
    },
  ],
};

/** The traced run: the workloads, in a state directory of their own; phases to `work`. */
async function runWorkloads(work) {
  // No template or probe verdict of an earlier run is reused, so the template is booted and
  // saved here (the image cache is shared: it is not the VMM's).
  const state = await mkdtemp('/run/ironclaw-trace-');
  process.env.IRONCLAW_STATE_DIR = state;
  const phases = [];
  try {
    const h = await loadHelpers();
    const session = { h, phases };
    // A VM that cannot run under KVM leaves launchVm's abandoned waits behind: not failures.
    process.on('unhandledRejection', (error) => log(`ignored: ${error?.message ?? error}`));
    await traceDriver(session);
    await traceReconnect(session);
    await traceKvm(session);
    const version = (await execFile(h.qemuBinary(), ['--version'])).stdout.split('\n')[0];
    await writeFile(join(work, 'phases.json'), JSON.stringify({ phases, version }));
  } finally {
    await Promise.all(
      [state, `${state}-vmm`].map((dir) => rm(dir, { recursive: true, force: true })),
    );
  }
}

function log(message) {
  process.stderr.write(`trace-vmm: ${message}\n`);
}

async function ensureStrace() {
  const found = await execFile('strace', ['-V']).then(
    () => true,
    () => false,
  );
  if (found) return;
  log('strace is missing: apt-get install -y strace');
  await execFile('apt-get', ['install', '-y', '-qq', 'strace'], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

/** IronClaw's own modules, bundled from src/ by esbuild as the build does. */
async function loadHelpers() {
  // Not under dist/, which every build empties.
  const out = join(REPO, 'node_modules', '.cache', 'ironclaw-trace-vmm', 'helpers.mjs');
  await build({
    stdin: {
      contents: `
        export { createSandbox } from './src/runtime/create-sandbox.ts';
        export { ensureImage } from './src/image/build.ts';
        export { qemuArgs } from './src/drivers/qemu/args.ts';
        export { kernelCmdline, tscKhzFromCpuinfo } from './src/image/vm-guest.ts';
        export { makeVmRuntimeDir } from './src/drivers/qemu/runtime-dir.ts';
        export { launchVm, qemuBinary } from './src/drivers/qemu/launch.ts';
        export { QmpClient } from './src/drivers/qemu/qmp.ts';
        export { RpcClient } from './src/protocol/rpc-client.ts';
        export { PingResultSchema } from './src/protocol/guest-api.ts';
        export { resolveLimits } from './src/core/limits.ts';
        export { compilePolicyForHost } from './src/core/seccomp/compile-for-host.ts';`,
      resolveDir: REPO,
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile: out,
    plugins: [withoutVmmFilter],
    logLevel: 'warning',
  });
  return import(pathToFileURL(out).href);
}

/**
 * The jail's filter is what is being derived, so the bundle's seccomp-filter.ts gives the
 * tracing filter instead (TRACING_POLICY; bwrap boxes are not traced here).
 */
const withoutVmmFilter = {
  name: 'without-vmm-filter',
  setup(build) {
    build.onResolve({ filter: /\/seccomp-filter\.js$/ }, () => ({
      path: 'seccomp-filter',
      namespace: 'trace-vmm',
    }));
    build.onLoad({ filter: /.*/, namespace: 'trace-vmm' }, () => ({
      contents:
        'export async function seccompFilter() {\n' +
        '  return { path: process.env.TRACE_VMM_FILTER, summary: "tracing" };\n}\n' +
        'export const sandboxSeccompFilter = seccompFilter;\n',
      loader: 'js',
    }));
  },
};

/** Marks the start of a phase: each syscall is attributed to the phase it was first seen in. */
function phase(session, name) {
  log(name);
  session.phases.push({ name, at: Date.now() / 1000 });
}

const SIGNAL = () => AbortSignal.timeout(120_000);

async function qmp(session, socket, commands) {
  const client = await session.h.QmpClient.connect(socket, SIGNAL());
  const replies = [];
  try {
    for (const [command, args] of commands)
      replies.push(await client.execute(command, args ?? {}, SIGNAL()));
  } finally {
    client.close();
  }
  return replies;
}

/** The QMP socket of a running VM, from its QEMU's command line. */
async function qmpSocketOf(pid) {
  const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
  const qmpArg = argv[argv.indexOf('-qmp') + 1] ?? '';
  return qmpArg.slice('unix:'.length, qmpArg.indexOf(',server'));
}

async function workload(sandbox) {
  const runs = [
    ['sh', '-c', 'echo hello; uname -a; ls -l / >/dev/null; cat /proc/meminfo >/dev/null'],
    ['sh', '-c', 'dd if=/dev/zero of=/tmp/blob bs=1M count=8 2>/dev/null; wc -c </tmp/blob'],
    ['sh', '-c', 'head -c 300000 /dev/urandom | base64 | wc -l'],
    ['python3', '-c', 'import sys; print(sys.stdin.read().upper())'],
  ];
  for (const argv of runs) {
    const out = await sandbox.exec(argv, { stdin: 'some input\n' });
    if (out.exitCode !== 0) throw new Error(`${argv.join(' ')} failed: ${out.stderr}`);
  }
  await sandbox.writeFile('/workspace/file.txt', 'x'.repeat(200_000));
  await sandbox.readFile('/workspace/file.txt');
}

/**
 * The driver itself: the first sandbox boots the VM template (RAM in a memory-backend-file,
 * share=on), saves it by migration to a unix: socket (x-ignore-shared) and restores a clone
 * (sealed RAM copy mapped share=off, `-incoming defer`, migrate-incoming); the second restores
 * another clone. Each serves exec and file traffic and QMP commands, then is destroyed (QMP quit).
 */
async function traceDriver(session) {
  for (const label of ['template and first clone', 'second clone']) {
    phase(session, `boot: ${label}`);
    const sandbox = await session.h.createSandbox({ driver: 'qemu', startTimeoutMs: 240_000 });
    try {
      phase(session, `exec: ${label}`);
      await workload(sandbox);
      phase(session, `qmp: ${label}`);
      await qmp(session, await qmpSocketOf(sandbox.boxPid), [
        ['query-status'],
        ['query-version'],
        ['query-cpus-fast'],
        ['query-block'],
        ['query-chardev'],
        ['query-migrate'],
        ['stop'],
        ['cont'],
      ]);
    } finally {
      phase(session, `shutdown: ${label}`);
      await sandbox.destroy();
    }
  }
}

/** A VM's plain command line (anonymous RAM, as booted without templates). */
async function plainArgs(session, runtime, options) {
  const { h } = session;
  const image = await h.ensureImage();
  const tscKhz = h.tscKhzFromCpuinfo(await readFile('/proc/cpuinfo', 'utf8'));
  const accel = options.kvm ? 'kvm' : 'tcg';
  return {
    image,
    args: h.qemuArgs(
      {
        kernel: image.kernel.path,
        initramfs: image.initramfs,
        ...(options.kvm ? {} : { rootfs: image.rootfs, controlSocket: runtime.controlSocket }),
        agentSocket: runtime.agentSocket,
        qmpSocket: runtime.qmpSocket,
      },
      {
        accel,
        memoryMiB: 256,
        cpus: 1,
        cmdline: h.kernelCmdline(
          options.kvm
            ? { accel, tscKhz: undefined, probe: true }
            : { accel, tscKhz, limits: h.resolveLimits() },
        ),
      },
    ),
  };
}

/** A cold-booted VM whose agent connection the host closes: QEMU's chardev dials again. */
async function traceReconnect(session) {
  const { h } = session;
  const runtime = await h.makeVmRuntimeDir('trace-reconnect');
  try {
    phase(session, 'boot: cold');
    const { image, args } = await plainArgs(session, runtime, { kvm: false });
    const vm = await h.launchVm(runtime, args, {
      signal: SIGNAL(),
      files: [image.kernel.path, image.initramfs, image.rootfs],
      kvm: false,
      rootVmmUid: VMM_UID,
      control: true,
    });
    try {
      const ping = (client) => client.request('ping', {}, h.PingResultSchema, { signal: SIGNAL() });
      const first = new h.RpcClient(vm.agent, { name: 'first session' });
      await ping(first);
      phase(session, 'reconnect');
      first.close();
      const second = new h.RpcClient(await vm.nextAgent(SIGNAL()), { name: 'second session' });
      await ping(second);
      second.close();
      phase(session, 'shutdown: cold');
      await qmp(session, runtime.qmpSocket, [['query-status'], ['quit']]);
      await vm.exited;
    } finally {
      await vm.kill();
    }
  } finally {
    await runtime.remove();
  }
}

/**
 * KVM's set-up and run loop, where /dev/kvm opens. On the development machine it opens but an
 * ordinary guest hangs in it: the VMM's side (VM and vCPU creation, KVM_RUN, signals to the
 * vCPU thread) is traced all the same. The VMM runs as root here because /dev/kvm is root's
 * own on that machine; under IronClaw it gets the kvm group.
 */
async function traceKvm(session) {
  const { h } = session;
  const opens = await open('/dev/kvm', 'r+').then(
    (handle) => handle.close().then(() => true),
    () => false,
  );
  if (!opens) {
    log('no usable /dev/kvm: the KVM path is not traced (the KVM ioctl rule stands by reasoning)');
    return;
  }
  const runtime = await h.makeVmRuntimeDir('trace-kvm');
  try {
    phase(session, 'kvm');
    const { image, args } = await plainArgs(session, runtime, { kvm: true });
    // Where the guest cannot run, QEMU never gets to dial the agent socket: launchVm gives up
    // after the timeout and kills it, and what it did until then is in the trace.
    const vm = await h
      .launchVm(runtime, args, {
        signal: AbortSignal.timeout(15_000),
        files: [image.kernel.path, image.initramfs],
        kvm: true,
        rootVmmUid: 0,
        control: false,
      })
      .catch((error) =>
        log(
          `the KVM VM did not come up (traced as far as it got): ${error.message.split('\n')[0]}`,
        ),
      );
    if (vm) {
      try {
        await delay(5000);
        // A vCPU that hangs in KVM_RUN can keep the main loop from answering: bounded.
        await Promise.race([
          qmp(session, runtime.qmpSocket, [['query-status'], ['stop'], ['cont'], ['quit']]),
          delay(10_000),
        ]).catch((error) => log(`QMP of the KVM VM: ${error.message}`));
      } finally {
        await vm.kill();
      }
    }
  } finally {
    await runtime.remove();
  }
}

const LINE = /^(\d+) +([\d.]+) (?:<\.\.\. (\w+) resumed>(.*)|(\w+)\((.*))$/;

/** One syscall line of `strace -f -ttt`, or the second half of one that was interrupted. */
function parseLine(line) {
  const match = LINE.exec(line);
  if (!match) return undefined;
  const resumed = match[3] !== undefined;
  return {
    pid: Number(match[1]),
    at: Number(match[2]),
    resumed,
    name: resumed ? match[3] : match[5],
    text: resumed ? match[4] : match[6],
    unfinished: line.endsWith(' <unfinished ...>'),
  };
}

/**
 * The syscalls QEMU made, from the trace: each process whose execve of QEMU succeeded, from
 * that execve on, and every thread or process it created afterwards (found in a first pass,
 * as a new thread's first calls can come before its creator's clone returns in the trace).
 */
async function collect(file, phases) {
  const lines = (await readFile(file, 'utf8')).split('\n').map(parseLine);
  const from = new Map();
  const started = new Map();
  const clones = [];
  lines.forEach((call, index) => {
    if (!call) return;
    if (!call.resumed) started.set(call.pid, index);
    if (call.unfinished) return;
    const ret = / = (-?\d+|0x[0-9a-f]+)(?: .*)?$/.exec(call.text)?.[1];
    // A VMM's exec, not a `qemu-system-x86_64 --version`: its argv goes on with -M.
    if (call.name === 'execve' && /^"[^"]*qemu-system[^"]*", \["[^"]*", "-M"/.test(call.text)) {
      if (ret === '0') from.set(call.pid, started.get(call.pid));
      return;
    }
    // QEMU runs in a pid namespace of its own: its clone returns the new thread's id there, and
    // strace (--decode-pids=pidns) adds the id that its lines are prefixed with.
    const child = Number(/\/\* (\d+) in strace's PID NS \*\//.exec(call.text)?.[1] ?? ret);
    if (['clone', 'clone3', 'fork', 'vfork'].includes(call.name) && child > 0)
      clones.push({ parent: call.pid, child, at: started.get(call.pid) });
  });
  for (const clone of clones.sort((x, y) => x.at - y.at)) {
    const since = from.get(clone.parent);
    if (since !== undefined && since <= clone.at && !from.has(clone.child))
      from.set(clone.child, clone.at);
  }
  const seen = new Map();
  const pending = new Map();
  lines.forEach((call, index) => {
    if (!call) return;
    const since = from.get(call.pid);
    if (since === undefined || index < since) return;
    if (call.unfinished) {
      pending.set(call.pid, call.text.slice(0, -' <unfinished ...>'.length));
      return;
    }
    const text = call.resumed ? `${pending.get(call.pid) ?? ''}${call.text}` : call.text;
    pending.delete(call.pid);
    let entry = seen.get(call.name);
    if (!entry) {
      const phase = phases.filter((p) => p.at <= call.at).at(-1)?.name ?? 'start-up';
      const example = `${call.name}(${text}`.slice(0, 160);
      entry = { name: call.name, count: 0, phase, example, args: new Set() };
      seen.set(call.name, entry);
    }
    entry.count++;
    const condition = conditionValue(call.name, text);
    if (condition !== undefined) entry.args.add(condition);
  });
  log(`${from.size} QEMU processes and threads in the trace`);
  return seen;
}

/** The argument an argument-restricted rule (rulesFor) is about, as strace printed it raw. */
function conditionValue(name, text) {
  switch (name) {
    case 'clone':
      return /flags=(0x[0-9a-f]+|\d+)/.exec(text)?.[1];
    case 'clone3':
      return /\{flags=(0x[0-9a-f]+|\d+)/.exec(text)?.[1];
    case 'socket':
    case 'socketpair':
      return /^(0x[0-9a-f]+|\d+)/.exec(text)?.[1];
    case 'ioctl':
    case 'fcntl':
      return /^\d+, (0x[0-9a-f]+|\d+)/.exec(text)?.[1];
    case 'prctl':
    case 'madvise':
      return name === 'prctl'
        ? /^(0x[0-9a-f]+|\d+)/.exec(text)?.[1]
        : /, (0x[0-9a-f]+|\d+)\) = /.exec(text)?.[1];
    default:
      return undefined;
  }
}

// Why QEMU makes each call (QEMU 7.2 on glibc, TCG or KVM): the reason of its allow rule.
const REASONS = {
  accept4:
    'QMP server socket (-qmp unix:…,server=on) and an incoming migration on a unix: socket (clone restore) accept their one connection.',
  access:
    'The dynamic loader and glib probe files at start-up (/etc/ld.so.preload, module and firmware paths).',
  arch_prctl: 'glibc sets the thread pointer (ARCH_SET_FS) of the main thread at start-up.',
  bind: 'QMP listens on a Unix socket in the runtime directory; a clone listens for its incoming migration stream on another.',
  brk: 'malloc grows the heap.',
  close:
    'Every descriptor QEMU opens is closed again (files at start-up, QMP and migration connections).',
  clock_nanosleep:
    "glib's g_usleep: QEMU's RCU thread sleeps between batches of callbacks, and the migration code waits.",
  connect:
    "The agent and control chardevs (socket,reconnect=1) connect to the host's Unix sockets, again after the host closes one; a template's outgoing migration connects to a unix: socket.",
  eventfd2: "QEMU's event notifiers (main loop, AioContexts, thread pool) are eventfds.",
  execve:
    'bwrap installs this filter as its last step and then execs QEMU, so that one exec runs under it. QEMU execs nothing itself: its own filter (-sandbox spawn=deny) kills execve from its start-up on, and the jail holds only /usr, read-only.',
  exit: 'Worker threads (thread pool, RCU, vCPU) end.',
  exit_group: 'QEMU exits (QMP quit, or an error at start-up that it reports on stderr).',
  fadvise64:
    'The raw block driver tells the kernel how it reads the root filesystem image (POSIX_FADV_DONTNEED after probing).',
  fallocate:
    'The raw block driver and a memory-backend-file (a template’s RAM file) preallocate or punch ranges of files in the runtime directory.',
  fcntl:
    'File descriptor and status flags (FD_CLOEXEC, O_NONBLOCK) on sockets and files, and the sealing of an inherited memfd is read (F_GET_SEALS); byte-range locks of the disk image (F_OFD_SETLK) guard against two writers.',
  fdatasync:
    'The block layer flushes a written image (it is read-only here; kept for the flush path of a writable drive).',
  fstatfs:
    'A memory-backend-file asks which file system holds its RAM file (hugetlbfs or not, to pick the page size).',
  ftruncate: "A template VM's memory-backend-file sizes its RAM file to the guest's memory.",
  futex:
    'Mutexes and condition variables between the main loop, the vCPU thread and worker threads.',
  get_mempolicy: 'The host memory backend checks the NUMA policy when it maps guest RAM.',
  getcwd: 'glib asks for the working directory at start-up.',
  getpeername: "QEMU's socket chardev reads the peer's address of a connection it made or took.",
  getpid: 'QEMU reads its pid (QMP, logging, temporary names).',
  getrandom:
    'glibc and glib seed their random generators; QEMU seeds its own (qemu_guest_random_seed).',
  getsockname: "QEMU's socket code reads back the address of the sockets it listens on.",
  getsockopt:
    'The socket chardev reads socket options of its connections (SO_ERROR after connect).',
  gettid: 'QEMU names and tracks its threads by thread id.',
  getuid: 'glib reads the real uid at start-up.',
  geteuid: 'glib reads the effective uid at start-up.',
  getgid: 'glib reads the real gid at start-up.',
  getegid: 'glib reads the effective gid at start-up.',
  ioctl: 'See the argument-restricted ioctl rules.',
  listen: 'QMP and the incoming migration socket listen for their connection.',
  lseek:
    'The raw block driver finds the size of the disk image; the dynamic loader seeks in shared objects.',
  madvise:
    'Guest RAM is marked MADV_DONTFORK, MADV_MERGEABLE and MADV_HUGEPAGE; the TCG translation buffer and freed memory are advised too. madvise only changes how the caller’s own memory is managed.',
  membarrier: "QEMU's RCU uses membarrier for its memory barriers where the kernel offers it.",
  memfd_create:
    'QEMU probes memfd support at start-up (memfd_create("test")) and may back RAM or vhost memory with a memfd.',
  mmap: 'Shared objects, heap arenas, thread stacks, the TCG translation buffer, and guest RAM (anonymous, or the memory-backend-file of a template and of a clone).',
  mprotect:
    'The dynamic loader and TCG set page protections (the translation buffer is made executable).',
  mremap: 'glibc grows large allocations in place.',
  munmap: 'Memory is unmapped: shared objects at exit, thread stacks, freed arenas.',
  newfstatat:
    'stat of files QEMU opens: shared objects, kernel, initramfs, disk image, the memory-backend file.',
  openat:
    'QEMU opens its shared objects, the kernel, initramfs and disk image, /dev/kvm, the memory-backend file (through /proc/self/fd for a clone), and /proc and /sys files it reads; the jail holds nothing else.',
  pipe2:
    'glib and QEMU make internal pipes (event notifiers where eventfd is missing, the main loop’s wakeup).',
  poll: "glib's g_poll: blocking waits on a QIOChannel (the migration stream) run a GMainContext of their own.",
  ppoll: "QEMU's main loop and AioContexts wait on their descriptors with ppoll.",
  prctl: 'See the argument-restricted prctl rules.',
  pread64: 'The dynamic loader reads ELF headers; the raw block driver reads the disk image.',
  preadv: "The block layer's worker threads read the disk image for the guest (virtio-blk).",
  prlimit64: 'glibc and QEMU read resource limits (stack size at start-up, the descriptor limit).',
  pwrite64:
    'The block layer writes a writable image (kept for a writable drive; the root image is read-only).',
  pwritev: "The block layer's worker threads write a writable image.",
  read: 'QEMU reads files, eventfds, the signalfd, and its sockets (QMP commands, the migration stream).',
  readlink: 'QEMU resolves /proc/self/exe to find its data directory (firmware and option ROMs).',
  readv: 'Chardev and migration channels read into I/O vectors.',
  recvfrom: 'Socket chardevs read from their connections.',
  recvmsg:
    'Socket chardevs (agent, control, QMP) and the migration channel read with recvmsg (file-descriptor passing is supported on QMP).',
  rseq: 'glibc registers restartable sequences for each new thread.',
  rt_sigaction:
    'QEMU installs its signal handlers (SIGBUS for RAM errors, SIG_IPI for vCPU kicks, termination signals).',
  rt_sigprocmask: 'Threads block signals that the main loop takes through its signalfd.',
  rt_sigreturn: 'Returning from a signal handler (vCPU kicks, SIGBUS).',
  rt_sigtimedwait:
    'Under KVM, a vCPU thread takes pending SIG_IPI signals with sigtimedwait (kvm_eat_signals).',
  sched_getaffinity: 'glibc and QEMU read the CPU set (for the number of worker threads).',
  sched_yield: 'Spin loops of the thread pool and RCU yield the CPU.',
  seccomp:
    "QEMU installs its own filter (-sandbox on): one more filter only ever narrows what is allowed. libseccomp also probes the kernel's seccomp features with it.",
  sendmsg: 'Socket chardevs and QMP reply with sendmsg; the migration channel writes with it.',
  sendto: 'Socket chardevs write to their connections.',
  set_mempolicy:
    'The host memory backend applies a NUMA policy while it maps guest RAM (default policy here) and restores it.',
  set_robust_list: 'glibc registers the robust futex list of each new thread.',
  set_tid_address: 'glibc sets the thread id address at start-up.',
  setsockopt:
    'Socket chardevs set socket options (SO_PASSCRED off, buffer sizes) on their connections.',
  shutdown: 'A chardev or migration channel shuts its socket down when the peer goes away.',
  signalfd4:
    "QEMU's main loop receives signals (SIGTERM, SIGINT, SIGHUP, SIGBUS, SIGALRM) through a signalfd.",
  statfs: 'glibc checks for SELinux (/sys/fs/selinux) and QEMU for hugetlbfs mounts.',
  sysinfo: 'glib and QEMU read the RAM size and uptime.',
  tgkill:
    'QEMU kicks a vCPU thread out of KVM_RUN (or TCG) with SIG_IPI (pthread_kill), and abort() raises SIGABRT.',
  timerfd_create: 'glib timers may use timerfds.',
  timerfd_settime: 'glib timers may use timerfds.',
  uname: 'QEMU reads the host kernel release (KVM capability checks, migration info).',
  unlink:
    'QMP and migration sockets are unlinked before they are bound (stale files), and at exit.',
  write: 'QEMU writes the console (stdout), its messages (stderr), eventfds, and QMP replies.',
  writev: 'Chardevs and the migration channel write I/O vectors.',
};

/** Calls the trace here cannot reach, added by reasoning; each says why. */
const BY_REASONING = {
  epoll_create1:
    'Not traced: QEMU’s AioContext switches its descriptor monitor from ppoll to epoll once it watches 64 or more descriptors (util/fdmon-epoll.c), which a VM with more devices reaches.',
  epoll_ctl: 'Not traced: the epoll descriptor monitor above adds and removes descriptors.',
  epoll_pwait:
    'Not traced: the epoll descriptor monitor above waits with epoll_pwait (epoll_wait on older glibc).',
  epoll_wait:
    'Not traced: the epoll descriptor monitor above waits with epoll_wait on older glibc.',
  rt_sigtimedwait: REASONS.rt_sigtimedwait,
  tgkill: REASONS.tgkill,
  exit: 'Threads end with exit; QEMU’s worker threads end when idle (not always within a trace).',
  rt_sigreturn:
    'Not always traced: the return from any signal handler QEMU installs (SIG_IPI kicks under KVM, SIGBUS on a RAM error).',
  madvise: REASONS.madvise,
  mremap: REASONS.mremap,
  preadv: REASONS.preadv,
  sched_yield: REASONS.sched_yield,
};

// Linux's clone flags that ask for a thread, and the namespace flags.
const CLONE_VM = 0x100;
const CLONE_THREAD = 0x10000;
const CLONE_NEW =
  0x20000 | 0x2000000 | 0x4000000 | 0x8000000 | 0x10000000 | 0x20000000 | 0x40000000;
const hex = (value) => `0x${value.toString(16)}`;

const IOCTLS = {
  0x5401: 'TCGETS: the stdio chardev and glib check whether a descriptor is a terminal.',
  0x5402: 'TCSETS: the stdio chardev sets terminal modes (only when its stdio is a terminal).',
  0x5413: 'TIOCGWINSZ: the stdio chardev reads a terminal window size.',
  0x5421: 'FIONBIO: sockets are made non-blocking.',
  0x5451: 'FIOCLEX: descriptors are marked close-on-exec.',
  0x80081272: 'BLKGETSIZE64: the raw block driver sizes a block-device image.',
  0x1268: 'BLKSSZGET: the raw block driver probes the logical block size.',
};
const KVM_IOCTLS =
  'Every KVM ioctl (type 0xAE in bits 8-15 of the request: KVM_CREATE_VM, KVM_CREATE_VCPU, KVM_RUN, KVM_SET_USER_MEMORY_REGION, KVM_IRQFD, KVM_IOEVENTFD, …). They reach only the descriptors of /dev/kvm, its VM and its vCPUs, the only KVM objects in the jail. Traced where /dev/kvm opens: on the development machine the VMM side (VM and vCPU set-up, KVM_RUN) runs although the guest cannot boot; other KVM requests (dirty logging, migration of a KVM guest) are covered by this rule by reasoning: ioctl is one syscall and seccomp can only tell requests apart by number. Any other request kills the VMM, like any other call.';

const PRCTLS = {
  0x21: 'PR_MCE_KILL: QEMU asks for early machine-check kills (for KVM guests with a poisoned page).',
  0x26: 'PR_SET_NO_NEW_PRIVS: libseccomp sets it before QEMU installs its own filter (already set by bwrap).',
  0x1d: 'PR_SET_TIMERSLACK: threads set their timer slack.',
  0xf: 'PR_SET_NAME: QEMU names its threads (debug-threads).',
};

/** The rules of the policy, from what was seen. */
function rulesFor(names, seen) {
  const rules = [];
  const rule = (syscalls, action, reason, args) =>
    rules.push({ syscalls, action, ...(args ? { args } : {}), reason });
  rule(
    ['clone'],
    'allow',
    'Threads only: CLONE_VM and CLONE_THREAD set, no namespace flag (glibc’s pthread_create). QEMU starts no processes (its own filter kills fork), so a clone that is not a thread kills it. Flags are an unsigned long, but the kernel reads only their low 32 bits.',
    [
      {
        arg: 0,
        op: 'masked-eq',
        value: CLONE_VM | CLONE_THREAD,
        mask: CLONE_VM | CLONE_THREAD | CLONE_NEW,
        width: 32,
      },
    ],
  );
  rule(
    ['clone3'],
    { errno: 'ENOSYS' },
    'clone3 takes its flags in a struct that seccomp cannot read. ENOSYS makes glibc fall back to clone, whose flags the rule above checks (QEMU’s own filter answers clone3 the same way).',
  );
  rule(
    ['io_uring_setup', 'io_uring_enter', 'io_uring_register'],
    { errno: 'ENOSYS' },
    'QEMU would use io_uring to watch its descriptors (util/fdmon-io_uring.c), but io_uring carries out file and socket operations in the kernel where seccomp never sees them: an allow-list with io_uring open is no allow-list. ENOSYS makes QEMU fall back to ppoll, as traced.',
  );
  rule(
    ['socket'],
    'allow',
    'AF_UNIX only: QMP, the chardevs (agent, control) and migration use Unix sockets. The jail has no network device, and any other family (AF_INET, AF_NETLINK, AF_PACKET, AF_VSOCK, …) kills the VMM. The family is an int: 32 bits.',
    [{ arg: 0, op: 'eq', value: 1, width: 32 }],
  );
  const ioctls = new Set([...(seen.get('ioctl')?.args ?? [])].map(Number));
  for (const request of [...ioctls].filter((r) => (r & 0xff00) !== 0xae00).sort((x, y) => x - y)) {
    const why =
      IOCTLS[request] ??
      `${hex(request)}: seen in the trace (${seen.get('ioctl').phase}); reviewer: name it and say why.`;
    rule(['ioctl'], 'allow', why, [{ arg: 1, op: 'eq', value: request, width: 32 }]);
  }
  rule(['ioctl'], 'allow', KVM_IOCTLS, [
    { arg: 1, op: 'masked-eq', value: 0xae00, mask: 0xff00, width: 32 },
  ]);
  const prctls = new Set([...(seen.get('prctl')?.args ?? [])].map(Number));
  for (const option of [...prctls].sort((x, y) => x - y)) {
    const why =
      PRCTLS[option] ??
      `${hex(option)}: seen in the trace (${seen.get('prctl').phase}); reviewer: name it and say why.`;
    rule(['prctl'], 'allow', why, [{ arg: 0, op: 'eq', value: option, width: 32 }]);
  }
  const special = new Set([
    'clone',
    'clone3',
    'io_uring_setup',
    'io_uring_enter',
    'io_uring_register',
    'socket',
    'ioctl',
    'prctl',
  ]);
  for (const name of [...names].filter((n) => !special.has(n)).sort()) {
    const entry = seen.get(name);
    const reason =
      REASONS[name] ??
      BY_REASONING[name] ??
      `Seen in the trace (${entry?.phase}): ${entry?.example}; reviewer: say why.`;
    rule([name], 'allow', entry || !BY_REASONING[name] ? reason : BY_REASONING[name]);
  }
  return rules;
}

async function writePolicy(seen, version) {
  const rows = [...seen.values()].sort((a, b) => a.name.localeCompare(b.name));
  for (const row of rows)
    log(
      `${row.name.padEnd(20)} ${String(row.count).padStart(7)}  ${row.phase.padEnd(30)} ${[...row.args].join(' ')}`,
    );
  const names = new Set([...seen.keys(), ...Object.keys(BY_REASONING)]);
  const existing = await readFile(POLICY, 'utf8').then(JSON.parse, () => undefined);
  const kept = [];
  if (existing && !flags.has('--replace')) {
    // Merge: a syscall the policy allows and this trace did not see stays (another host, KVM).
    for (const rule of existing.rules)
      for (const name of rule.syscalls)
        if (rule.action === 'allow' && !rule.args && !names.has(name)) kept.push(name);
    for (const name of kept) names.add(name);
  }
  const unknown = rows.filter(
    (row) =>
      !REASONS[row.name] &&
      !BY_REASONING[row.name] &&
      ![
        'clone',
        'clone3',
        'socket',
        'ioctl',
        'prctl',
        'io_uring_setup',
        'io_uring_enter',
        'io_uring_register',
      ].includes(row.name),
  );
  const policy = {
    name: 'vmm-qemu',
    description:
      "QEMU's allow-list: what IronClaw's QEMU VMM calls, on top of QEMU's own -sandbox filter. Written by scripts/trace-vmm.mjs from a trace; edit the reasons there.",
    derivation: {
      by: 'scripts/trace-vmm.mjs: strace -f of the qemu driver (boot, exec and file traffic, QMP, agent reconnection, template save by migration to a unix: socket with x-ignore-shared, clone restore with -incoming defer and migrate-incoming, shutdown) and of a KVM VM where /dev/kvm opens',
      from: `${version}, Linux ${release()}, ${process.arch}`,
      date: new Date().toISOString().slice(0, 10),
      notes: `${seen.size} syscalls seen; ${Object.keys(BY_REASONING).length} added by reasoning${kept.length ? `; kept from the previous policy, not seen this time: ${kept.join(', ')}` : ''}`,
    },
    defaultAction: 'kill-process',
    defaultReason:
      'An allow-list: QEMU’s needs are known (traced), so any other call means a compromised VMM or a path nobody reviewed, and the whole VMM is killed at once (SIGSYS, reported as such). errno would let a compromised VMM probe the kernel and carry on; kill also makes a missing rule obvious instead of a half-working VM. The calls QEMU probes and handles failing (clone3, io_uring, unknown ioctls) get an errno instead, by rule.',
    rules: rulesFor(names, seen),
  };
  if (unknown.length) log(`no reason known for: ${unknown.map((row) => row.name).join(', ')}`);
  // What the argument-restricted rules would refuse although the trace saw it: to be reviewed.
  const threadMask = CLONE_VM | CLONE_THREAD | CLONE_NEW;
  for (const flags of seen.get('clone')?.args ?? [])
    if ((Number(flags) & threadMask) !== (CLONE_VM | CLONE_THREAD))
      log(`WARNING: QEMU called clone with flags ${flags}, which the policy refuses`);
  for (const family of seen.get('socket')?.args ?? [])
    if (Number(family) !== 1)
      log(`WARNING: QEMU opened a socket of family ${family}, which the policy refuses`);
  if (kept.length) log(`kept from the previous policy (not seen this time): ${kept.join(', ')}`);
  if (flags.has('--dry-run')) {
    process.stdout.write(`${JSON.stringify(policy, null, 2)}\n`);
    return;
  }
  await writeFile(POLICY, `${JSON.stringify(policy, null, 2)}\n`);
  await execFile(join(REPO, 'node_modules', '.bin', 'prettier'), ['--write', POLICY]);
  log(`wrote ${POLICY}: ${policy.rules.length} rules`);
}

await main();
