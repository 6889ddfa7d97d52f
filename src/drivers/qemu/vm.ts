import { readFile } from 'node:fs/promises';
import { reportLongWork } from '../../host/long-work.js';
import type { Socket } from 'node:net';
import { IronClawError } from '../../core/errors.js';
import type { Limits } from '../../core/limits.js';
import { type SeccompChoice, sandboxSeccompFilter } from '../../host/seccomp-filter.js';
import { ensureImage } from '../../image/build.js';
import type { GuestImage } from '../../image/store.js';
import { type AccelChoice, chooseAccel } from './accel.js';
import { qemuArgs, type VmShape } from './args.js';
import { guestMemoryMiB, kernelCmdline, tscKhzFromCpuinfo } from '../../image/vm-guest.js';
import { VmControl } from './control.js';
import { launchVm, type LaunchOptions, type RunningVm } from './launch.js';
import { makeVmRuntimeDir, type VmRuntimeDir } from './runtime-dir.js';

/*
 * One VM of the qemu driver: the plan every VM of a configuration shares (image, KVM or TCG,
 * machine shape, how QEMU is launched) and a VM booted cold from it. Clones are qemu-clone.ts.
 */

/** How long QEMU may take to start and connect to the agent socket (the guest boots after). */
export const LAUNCH_TIMEOUT_MS = 20_000;

/** What every VM of one configuration shares: image, machine shape, how QEMU is launched. */
export interface VmPlan {
  image: GuestImage;
  shape: VmShape;
  launch: Omit<LaunchOptions, 'signal'>;
}

/** The plan for VMs with these limits: the image (built on first use), KVM or TCG, the argv. */
export async function vmPlan(
  limits: Limits,
  rootVmmUid: number,
  /** 'none': without IronClaw's VMM filter (diagnosis only; QEMU's own stays). */
  seccomp?: SeccompChoice,
): Promise<{ plan: VmPlan; accel: AccelChoice; guestFilter: string | undefined }> {
  const image = await ensureImage({
    progress: (message) => reportLongWork(`image: ${message}`),
  });
  const [accel, tscKhz, guestFilter] = await Promise.all([
    chooseAccel(image),
    hostTscKhz(),
    seccomp === 'none' ? undefined : sandboxSeccompFilter(),
  ]);
  const plan: VmPlan = {
    image,
    shape: {
      accel: accel.accel,
      memoryMiB: guestMemoryMiB(limits),
      cpus: 1,
      cmdline: kernelCmdline({
        accel: accel.accel,
        tscKhz,
        limits,
        seccompSha256: guestFilter?.sha256,
      }),
    },
    launch: {
      files: [image.kernel.path, image.initramfs, image.rootfs],
      kvm: accel.accel === 'kvm',
      rootVmmUid,
      control: true,
      ...(seccomp === undefined ? {} : { seccomp }),
    },
  };
  return { plan, accel, guestFilter: guestFilter?.summary };
}

export interface StartedVm {
  vm: RunningVm;
  runtime: VmRuntimeDir;
}

/** Boots a VM from its kernel (a template's shape adds a RAM file in its runtime directory). */
export async function bootVm(
  plan: VmPlan,
  id: string,
  shapeIn: (runtime: VmRuntimeDir) => VmShape = () => plan.shape,
): Promise<StartedVm> {
  const runtime = await makeVmRuntimeDir(id);
  try {
    const shape = shapeIn(runtime);
    const vm = await launchVm(runtime, vmArgs(plan.image, runtime, shape), {
      ...plan.launch,
      signal: AbortSignal.timeout(LAUNCH_TIMEOUT_MS),
      ...(shape.memoryFile ? { maxFileBytes: shape.memoryMiB * 1024 ** 2 } : {}),
    });
    return { vm, runtime };
  } catch (error) {
    await runtime.remove();
    throw error;
  }
}

const controls = new WeakMap<Socket, VmControl>();

/**
 * The host's end of the restore helper of a VM launched with one: one per VM, since every
 * VmControl reads every line of the port.
 */
export function controlOf(vm: RunningVm): VmControl {
  if (!vm.control) throw new IronClawError('INTERNAL', 'the VM has no control port');
  let control = controls.get(vm.control);
  if (!control) {
    control = new VmControl(vm.control);
    controls.set(vm.control, control);
  }
  return control;
}

/** QEMU's argv for a VM of `image` in `runtime`. */
export function vmArgs(image: GuestImage, runtime: VmRuntimeDir, shape: VmShape): string[] {
  return qemuArgs(
    {
      kernel: image.kernel.path,
      initramfs: image.initramfs,
      rootfs: image.rootfs,
      agentSocket: runtime.agentSocket,
      controlSocket: runtime.controlSocket,
      qmpSocket: runtime.qmpSocket,
    },
    shape,
  );
}

let tsc: Promise<number | undefined> | undefined;

/** The host's TSC frequency, which a TCG guest needs on its command line (notes/vmm.md §2.2). */
function hostTscKhz(): Promise<number | undefined> {
  tsc ??= readFile('/proc/cpuinfo', 'utf8').then(tscKhzFromCpuinfo, () => undefined);
  return tsc;
}
