import { type FileHandle, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { IronClawError } from '../../core/errors.js';
import { reportLongWork } from '../../host/long-work.js';
import { untilExecReady } from '../../protocol/exec-ready.js';
import { ExecResultSchema, type PingResult, PingResultSchema } from '../../protocol/guest-api.js';
import { RpcClient } from '../../protocol/rpc-client.js';
import { qemuArgs } from './args.js';
import { launchVm, qemuVersion, type RunningVm } from './launch.js';
import { QmpClient } from './qmp.js';
import { makeVmRuntimeDir } from './runtime-dir.js';
import {
  findTemplate,
  loadTemplateState,
  maxTemplates,
  publishTemplate,
  saveTemplateState,
  sealedMemory,
  templateKey,
  touchTemplate,
  type VmTemplate,
} from './template.js';
import { bootVm, controlOf, LAUNCH_TIMEOUT_MS, type StartedVm, vmArgs, type VmPlan } from './vm.js';

/*
 * VMs restored from a template (the store of templates is qemu-template.ts): which template a
 * plan uses, booting and saving it when there is none, reading it once per process, and starting
 * a clone of it.
 */

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
    if (reseed) await controlOf(vm).restore(signal);
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
  const started = performance.now();
  reportLongWork(
    `qemu: booting a template VM for this configuration (${key.slice(0, 8)}: ${plan.shape.memoryMiB} MiB, ${plan.shape.accel}), once; the sandboxes after it are clones of it${plan.shape.accel === 'tcg' ? ' (emulated: this takes a while)' : ''}`,
  );
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
        controlOf(vm).ready(signal),
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
    const template = await publishTemplate(key, runtime.dir);
    reportLongWork(
      `qemu: template ${key.slice(0, 8)} saved in ${Math.round((performance.now() - started) / 1000)} s`,
    );
    return template;
  } finally {
    await vm.kill();
    await runtime.remove();
  }
}
