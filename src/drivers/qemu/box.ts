import { IronClawError } from '../../core/errors.js';
import { resolveLimits } from '../../core/limits.js';
import {
  type BoxProcess,
  requireAgentPayload,
  type SpawnBoxOptions,
} from '../../host/box-process.js';
import { restoreVm } from './clone.js';
import { qemuIsolation } from './isolation.js';
import type { RunningVm } from './launch.js';
import { QmpClient } from './qmp.js';
import type { VmRuntimeDir } from './runtime-dir.js';
import { maxTemplates, templatesUnavailable } from './template.js';
import { bootVm, controlOf, vmPlan } from './vm.js';

/** How long a destroy waits for QEMU to obey QMP `quit` before it is killed. */
const QUIT_GRACE_MS = 1000;

/**
 * Starts a micro-VM box: QEMU `-M microvm` booting the guest image (built on first use), with
 * the root filesystem read-only on a virtio-mmio disk and the guest agent on a virtio-serial
 * port whose other end is a Unix socket in the VM's runtime directory. KVM when a probe VM
 * boots under it, TCG otherwise. Limits are applied inside the guest (its init: tmpfs sizes,
 * rlimits, a cgroup with memory and pids limits); guest RAM grows with a memory limit.
 *
 * By default a box is a clone of a template of its configuration (restoreVm): the first box of a
 * configuration boots and saves the template, every box restores from it in a fraction of a
 * boot. `template: false` boots cold.
 *
 * Fails fast: if QEMU exits before the agent answers, `exited` settles and the start fails
 * quoting QEMU's stderr and the guest console (also kept in the runtime directory's qemu.log
 * and console.log until destroy). Destroy ends QEMU and removes the runtime directory.
 */
export async function spawnQemuBox(options: SpawnBoxOptions): Promise<BoxProcess> {
  requireAgentPayload(options, 'qemu');
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new IronClawError(
      'DRIVER_UNAVAILABLE',
      `the qemu driver needs x86-64 Linux, not ${process.platform}/${process.arch}`,
    );
  }
  const limits = resolveLimits(options.limits);
  const { plan, accel, guestFilter } = await vmPlan(limits, options.rootBoxUid, options.seccomp);
  // Without what templates need, a VM boots cold (slower, as safe) and its report says why.
  if (options.template !== false) maxTemplates(); // a bad IRONCLAW_VM_TEMPLATES fails here
  const noTemplate = options.template === false ? '' : await templatesUnavailable();
  const { vm, runtime, start } =
    noTemplate === undefined
      ? await restoreVm(plan, options.id)
      : {
          ...(await bootVm(plan, options.id)),
          start: noTemplate ? `booted cold (${noTemplate})` : 'booted cold',
        };
  const isolation = qemuIsolation({
    accel,
    limits,
    image: plan.image,
    memoryMiB: plan.shape.memoryMiB,
    hostUid: process.getuid?.() === 0 ? options.rootBoxUid : (process.getuid?.() ?? -1),
    start,
    vmmFilter: vm.seccomp,
    guestFilter,
  });
  let destroying: Promise<void> | undefined;
  // A cold-booted guest's helper says `ready` first; a clone's said it before the template was saved.
  let helperReady: Promise<void> | undefined =
    noTemplate === undefined ? Promise.resolve() : undefined;
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
    // The guest's floor, lowered by its root restore helper: the agent in it has no capability.
    lowerPortFloor: async (port, signal) => {
      const control = controlOf(vm);
      helperReady ??= control.ready(signal);
      await helperReady;
      return control.lowerPortFloor(port, signal);
    },
    destroy: () => {
      destroying ??= destroyVm(vm, runtime);
      return destroying;
    },
  };
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
