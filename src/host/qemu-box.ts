import { type FileHandle, readFile, stat } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { IronClawError } from '../core/errors.js';
import { type Limits, resolveLimits } from '../core/limits.js';
import { type BoxProcess, requireAgentPayload, type SpawnBoxOptions } from './box-process.js';
import type { SeccompChoice } from './seccomp-filter.js';
import { ensureImage } from './image-build.js';
import type { GuestImage } from './image-store.js';
import { type AccelChoice, chooseAccel } from './qemu-accel.js';
import { ExecResultSchema, type PingResult, PingResultSchema } from '../protocol/guest-api.js';
import { untilExecReady } from '../protocol/exec-ready.js';
import { RpcClient } from '../protocol/rpc-client.js';
import {
  guestMemoryMiB,
  kernelCmdline,
  qemuArgs,
  tscKhzFromCpuinfo,
  type VmShape,
} from './qemu-args.js';
import { VmControl } from './qemu-control.js';
import { qemuIsolation } from './qemu-isolation.js';
import { launchVm, type LaunchOptions, qemuVersion, type RunningVm } from './qemu-launch.js';
import { makeVmRuntimeDir, type VmRuntimeDir } from './qemu-runtime-dir.js';
import { QmpClient } from './qemu-qmp.js';
import {
  findTemplate,
  loadTemplateState,
  maxTemplates,
  publishTemplate,
  saveTemplateState,
  sealedMemory,
  templateKey,
  touchTemplate,
  templatesUnavailable,
  type VmTemplate,
} from './qemu-template.js';

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
  const { plan, accel } = await vmPlan(limits, options.rootBoxUid, options.seccomp);
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
): Promise<{ plan: VmPlan; accel: AccelChoice }> {
  const image = await ensureImage({
    progress: (message) => process.stderr.write(`ironclaw: image: ${message}\n`),
  });
  const [accel, tscKhz] = await Promise.all([chooseAccel(image), hostTscKhz()]);
  const plan: VmPlan = {
    image,
    shape: {
      accel: accel.accel,
      memoryMiB: guestMemoryMiB(limits),
      cpus: 1,
      cmdline: kernelCmdline({ accel: accel.accel, tscKhz, limits }),
    },
    launch: {
      files: [image.kernel.path, image.initramfs, image.rootfs],
      kvm: accel.accel === 'kvm',
      rootVmmUid,
      control: true,
      ...(seccomp === undefined ? {} : { seccomp }),
    },
  };
  return { plan, accel };
}

export interface StartedVm {
  vm: RunningVm;
  runtime: VmRuntimeDir;
}

/** Boots a VM from its kernel (a template's shape adds a RAM file in its runtime directory). */
async function bootVm(
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

/** Where a clone's QEMU finds the sealed template RAM it inherits (qemu-template.ts). */
const MEMORY_FD = 10;

/**
 * Starts a clone of the template for `plan` (booting and saving the template first if there is
 * none): QEMU maps the template's sealed RAM copy-on-write, loads its device state, and runs on
 * from where the template stopped, with the guest agent already up. Before anything else runs
 * in it, the guest's random generator is reseeded from the host and its clock is set, so no two
 * clones share randomness or the template's time.
 */
export async function restoreVm(
  plan: VmPlan,
  id: string,
  /** Off only in the test that shows what the restore step prevents. */
  reseed = true,
): Promise<StartedVm & { start: string }> {
  const { template, files, release } = await useTemplate(plan);
  const signal = AbortSignal.timeout(LAUNCH_TIMEOUT_MS);
  const runtime = await makeVmRuntimeDir(id).catch((error: unknown) => {
    release();
    throw error;
  });
  let vm: RunningVm | undefined;
  try {
    vm = await launchVm(
      runtime,
      vmArgs(plan.image, runtime, {
        ...plan.shape,
        memoryFile: { path: `/proc/self/fd/${MEMORY_FD}`, share: false },
        incoming: true,
      }),
      { ...plan.launch, signal, inherit: [{ fd: files.memory.fd, at: MEMORY_FD }] },
    ).finally(release);
    const qmp = await QmpClient.connect(runtime.qmpSocket, signal);
    try {
      await loadTemplateState(qmp, {
        state: files.state,
        socket: runtime.migrationSocket,
        signal,
      });
      await qmp.execute('cont', {}, signal);
    } finally {
      qmp.close();
    }
    if (reseed) await new VmControl(controlOf(vm)).restore(signal);
    return {
      vm,
      runtime,
      start: `restored from template ${template.key} (its RAM sealed and mapped copy-on-write; the guest's random generator reseeded from the host and its clock set)`,
    };
  } catch (error) {
    release();
    await vm?.kill();
    const evidence = vm ? `\n${vm.tail()}` : '';
    await runtime.remove();
    if (error instanceof IronClawError && error.code === 'SANDBOX_START_FAILED' && !vm) throw error;
    throw new IronClawError(
      'SANDBOX_START_FAILED',
      `QEMU could not restore VM template ${template.key}: ${error instanceof Error ? error.message : String(error)}${evidence}`,
      { cause: error },
    );
  }
}

function controlOf(vm: RunningVm): Socket {
  if (!vm.control) throw new IronClawError('INTERNAL', 'the VM has no control port');
  return vm.control;
}

/** Templates being found or made, by key: one boot per key per process. */
const templates = new Map<string, Promise<VmTemplate>>();
/** What clones need of a template, read once per process (the template's files may go). */
interface LoadedTemplate {
  /** The sealed RAM copy every clone inherits (as large as the guest's touched RAM). */
  memory: FileHandle;
  state: Buffer;
  /** Restores handing `memory` to a QEMU now. */
  users: number;
  closed: boolean;
}

/**
 * Loaded templates by key, the one used last at the end. A process keeps at most maxTemplates()
 * of them (a daemon asked for many sets of limits would otherwise hold a RAM copy of each).
 */
const loaded = new Map<string, Promise<LoadedTemplate>>();

async function templateFor(plan: VmPlan): Promise<VmTemplate> {
  const key = templateKey({
    imageKey: plan.image.key,
    argv: qemuArgs(TEMPLATE_KEY_PATHS, plan.shape),
    qemuVersion: await qemuVersion(),
  });
  let template = templates.get(key);
  if (!template) {
    template = (async () => (await findTemplate(key)) ?? makeTemplate(plan, key))();
    templates.set(key, template);
    template.catch(() => templates.delete(key));
  }
  return template;
}

/**
 * The template for `plan`, found or made, then loaded, and marked in use until `release`. A
 * template that another process evicted between being found and read is made again, once.
 */
async function useTemplate(
  plan: VmPlan,
): Promise<{ template: VmTemplate; files: LoadedTemplate; release: () => void }> {
  for (let attempt = 1; ; attempt++) {
    const template = await templateFor(plan);
    let pending = loaded.get(template.key);
    if (!pending) {
      pending = loadTemplate(template);
      const made = pending;
      made.catch(() => {
        if (loaded.get(template.key) === made) loaded.delete(template.key);
      });
    }
    loaded.delete(template.key); // and set again: the one used last is the last one
    loaded.set(template.key, pending);
    let files: LoadedTemplate;
    try {
      files = await pending;
    } catch (error) {
      if (attempt > 1 || (await findTemplate(template.key))) throw error;
      templates.delete(template.key);
      continue;
    }
    if (files.closed) continue; // forgotten meanwhile: load it again
    files.users++;
    void touchTemplate(template);
    void forgetUnused().catch(() => undefined); // a handle that will not close is left to GC
    const used = files;
    let released = false;
    const release = (): void => {
      if (!released) used.users--;
      released = true;
    };
    return { template, files, release };
  }
}

/** Reads what clones need of a template; a sealed copy made before a failure is closed. */
async function loadTemplate(template: VmTemplate): Promise<LoadedTemplate> {
  const [memory, state] = await Promise.allSettled([
    sealedMemory(template),
    readFile(template.state),
  ]);
  if (memory.status === 'rejected') throw memory.reason;
  if (state.status === 'rejected') {
    await memory.value.close();
    throw state.reason;
  }
  return { memory: memory.value, state: state.value, users: 0, closed: false };
}

/** Closes the loaded templates used longest ago beyond maxTemplates(), unless a restore has one. */
async function forgetUnused(): Promise<void> {
  const excess = Math.max(0, loaded.size - maxTemplates());
  for (const [key, pending] of [...loaded].slice(0, excess)) {
    const files = await pending.catch(() => undefined);
    if (!files || files.users > 0 || files.closed || loaded.get(key) !== pending) continue;
    files.closed = true;
    loaded.delete(key);
    await files.memory.close();
  }
}

/** Stand-ins for a VM's own paths in a template key: the key names the configuration only. */
const TEMPLATE_KEY_PATHS = {
  kernel: 'kernel',
  initramfs: 'initramfs',
  rootfs: 'rootfs',
  agentSocket: 'agent',
  controlSocket: 'control',
  qmpSocket: 'qmp',
};

/** How long a template VM may take to boot until its agent answers (a cold TCG boot: ~5 s). */
const TEMPLATE_BOOT_TIMEOUT_MS = 120_000;
/**
 * How long a template VM idles between its agent's first answer and the snapshot: the guest's
 * start-up leaves work behind (timers, deferred kernel work, node's idle tasks) that every clone
 * would otherwise do again after its restore. Measured under TCG: restore -> agent answers about
 * 400 ms without, 260 ms with 3 s; paid once per template.
 */
const TEMPLATE_SETTLE_MS = 2000;

/**
 * Boots the template VM with its RAM in a shared file, waits until the guest agent answers and
 * the restore helper serves its port, saves the device state and ends the VM. The RAM file and
 * the state become the template.
 */
async function makeTemplate(plan: VmPlan, key: string): Promise<VmTemplate> {
  const { vm, runtime } = await bootVm(plan, `template-${key.slice(0, 8)}`, (dir) => ({
    ...plan.shape,
    memoryFile: { path: join(dir.dir, 'memory'), share: true },
  }));
  try {
    const signal = AbortSignal.timeout(TEMPLATE_BOOT_TIMEOUT_MS);
    const failed = vm.exited.then(() => {
      throw new IronClawError('SANDBOX_START_FAILED', `the template VM exited\n${vm.tail()}`);
    });
    failed.catch(() => undefined);
    const agent = new RpcClient(vm.agent, { name: `VM template ${key}` });
    await Promise.race([
      Promise.all([
        agent.request('ping', {}, PingResultSchema, { signal }),
        new VmControl(controlOf(vm)).ready(signal),
      ]),
      failed,
    ]).catch((error: unknown) => {
      throw new IronClawError(
        'SANDBOX_START_FAILED',
        `the template VM did not start: ${error instanceof Error ? error.message : String(error)}\n${vm.tail()}`,
        { cause: error },
      );
    });
    // Run the exec path once, through the process the agent makes ahead of time, so that
    // clones start with what it leaves in the guest (node's compiled code for it, the command
    // lookup, the page cache; the emulator's translations are not part of a snapshot), and with
    // the next such process made.
    const ping = (): Promise<PingResult> => agent.request('ping', {}, PingResultSchema, { signal });
    await untilExecReady(ping, signal);
    await agent.request('exec', { argv: ['true'] }, ExecResultSchema, { signal });
    await untilExecReady(ping, signal);
    await delay(TEMPLATE_SETTLE_MS, undefined, { signal });
    const qmp = await QmpClient.connect(runtime.qmpSocket, signal);
    try {
      const owner = await stat(runtime.dir);
      await saveTemplateState(qmp, {
        dir: runtime.dir,
        socket: runtime.migrationSocket,
        owner: { uid: owner.uid, gid: owner.gid },
      });
    } finally {
      qmp.close();
    }
    await vm.kill();
    return await publishTemplate(key, runtime.dir);
  } finally {
    await vm.kill();
    await runtime.remove();
  }
}

function vmArgs(image: GuestImage, runtime: VmRuntimeDir, shape: VmShape): string[] {
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
