import { readFile } from 'node:fs/promises';
import { IronClawError } from '../core/errors.js';
import { type Limits, resolveLimits } from '../core/limits.js';
import type { BoxProcess, SpawnBoxOptions } from './box-process.js';
import { ensureImage } from './image-build.js';
import type { GuestImage } from './image-store.js';
import { type AccelChoice, chooseAccel } from './qemu-accel.js';
import { guestMemoryMiB, kernelCmdline, qemuArgs, tscKhzFromCpuinfo } from './qemu-args.js';
import { qemuIsolation } from './qemu-isolation.js';
import { launchVm, type RunningVm } from './qemu-launch.js';
import { makeVmRuntimeDir, type VmRuntimeDir } from './qemu-runtime-dir.js';
import { QmpClient } from './qemu-qmp.js';

/** How long QEMU may take to start and connect to the agent socket (the guest boots after). */
const LAUNCH_TIMEOUT_MS = 20_000;
/** How long a destroy waits for QEMU to obey QMP `quit` before it is killed. */
const QUIT_GRACE_MS = 1000;

/**
 * Starts a micro-VM box: QEMU `-M microvm` booting the guest image (built on first use), with
 * the root filesystem read-only on a virtio-mmio disk and the guest agent on a virtio-serial
 * port whose other end is a Unix socket in the VM's runtime directory. KVM when a probe VM
 * boots under it, TCG otherwise. Limits are applied inside the guest (its init: tmpfs sizes,
 * rlimits, a cgroup with memory and pids limits); guest RAM grows with a memory limit.
 *
 * Fails fast: if QEMU exits before the agent answers, `exited` settles and the start fails
 * quoting QEMU's stderr and the guest console (also kept in the runtime directory's qemu.log
 * and console.log until destroy). Destroy ends QEMU and removes the runtime directory.
 */
export async function spawnQemuBox(options: SpawnBoxOptions): Promise<BoxProcess> {
  if (options.payload.kind !== 'agent') {
    throw new IronClawError(
      'DRIVER_UNAVAILABLE',
      'the qemu driver runs the guest agent only; one-shot command payloads are not supported by it yet (use a sandbox and exec)',
    );
  }
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new IronClawError(
      'DRIVER_UNAVAILABLE',
      `the qemu driver needs x86-64 Linux, not ${process.platform}/${process.arch}`,
    );
  }
  const limits = resolveLimits(options.limits);
  const image = await ensureImage({
    progress: (message) => process.stderr.write(`ironclaw: image: ${message}\n`),
  });
  const [accel, tscKhz] = await Promise.all([chooseAccel(image), hostTscKhz()]);
  const runtime = await makeVmRuntimeDir(options.id);
  let vm: RunningVm;
  try {
    vm = await launchVm(runtime, vmArgs(image, runtime, accel, limits, tscKhz), {
      signal: AbortSignal.timeout(LAUNCH_TIMEOUT_MS),
      files: [image.kernel.path, image.initramfs, image.rootfs],
      kvm: accel.accel === 'kvm',
      rootVmmUid: options.rootBoxUid,
    });
  } catch (error) {
    await runtime.remove();
    throw error;
  }
  const isolation = qemuIsolation({
    accel,
    limits,
    image,
    memoryMiB: guestMemoryMiB(limits),
    hostUid: process.getuid?.() === 0 ? options.rootBoxUid : (process.getuid?.() ?? -1),
  });
  let destroying: Promise<void> | undefined;
  return {
    id: options.id,
    process: vm.child,
    // The VMM: the host process that holds the box (box processes are not host processes).
    boxPid: vm.pid,
    isolation,
    agent: vm.agent,
    started: Promise.resolve(true),
    exited: vm.exited,
    stderrTail: () => vm.tail(),
    destroy: () => {
      destroying ??= destroyVm(vm, runtime);
      return destroying;
    },
  };
}

function vmArgs(
  image: GuestImage,
  runtime: VmRuntimeDir,
  accel: AccelChoice,
  limits: Limits,
  tscKhz: number | undefined,
): string[] {
  return qemuArgs(
    {
      kernel: image.kernel.path,
      initramfs: image.initramfs,
      rootfs: image.rootfs,
      agentSocket: runtime.agentSocket,
      qmpSocket: runtime.qmpSocket,
    },
    {
      accel: accel.accel,
      memoryMiB: guestMemoryMiB(limits),
      cpus: 1,
      cmdline: kernelCmdline({ accel: accel.accel, tscKhz, limits }),
    },
  );
}

/** Asks QEMU to quit over QMP, kills it if it has not within the grace time, removes its files. */
async function destroyVm(vm: RunningVm, runtime: VmRuntimeDir): Promise<void> {
  vm.agent.destroy();
  if (vm.child.exitCode === null && vm.child.signalCode === null) {
    const signal = AbortSignal.timeout(QUIT_GRACE_MS);
    const quit = (async () => {
      const qmp = await QmpClient.connect(runtime.qmpSocket, signal);
      try {
        await qmp.execute('quit', {}, signal).catch(() => undefined);
        await Promise.race([
          vm.exited,
          new Promise((resolve) => signal.addEventListener('abort', resolve)),
        ]);
      } finally {
        qmp.close();
      }
    })().catch(() => undefined);
    await quit;
  }
  await vm.kill();
  await runtime.remove();
}

let tsc: Promise<number | undefined> | undefined;

/** The host's TSC frequency, which a TCG guest needs on its command line (notes/vmm.md §2.2). */
function hostTscKhz(): Promise<number | undefined> {
  tsc ??= readFile('/proc/cpuinfo', 'utf8').then(tscKhzFromCpuinfo, () => undefined);
  return tsc;
}
