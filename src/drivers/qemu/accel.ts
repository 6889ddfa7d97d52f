import { access, constants, stat } from 'node:fs/promises';
import { release } from 'node:os';
import { IronClawError } from '../../core/errors.js';
import { PROBE_REPLY } from '../../image/init.js';
import type { GuestImage } from '../../image/store.js';
import { qemuArgs } from './args.js';
import { type Accel, kernelCmdline } from '../../image/vm-guest.js';
import { launchVm, qemuVersion } from './launch.js';
import { makeVmRuntimeDir } from './runtime-dir.js';
import { cachedProbe } from '../../host/probe-cache.js';

/** The probe VM's VMM runs jailed as the sandboxes' do, as this uid when IronClaw is root. */
const PROBE_VMM_UID = 65534;
/** A KVM guest reaches its init in well under a second; one that has not in this long hangs. */
const KVM_PROBE_TIMEOUT_MS = 10_000;

export interface AccelChoice {
  accel: Accel;
  /** Why: KVM works (a probe VM booted), or why emulation (TCG) is used instead. */
  detail: string;
}

/**
 * KVM when a probe VM really boots under it, TCG otherwise. A /dev/kvm that exists is not
 * enough: on the development machine it is a nested paravirtual KVM on which an ordinary guest
 * kernel hangs. The verdict is remembered in the state directory under a key of everything it
 * depends on (QEMU's version, the host kernel, the /dev/kvm node, the guest kernel), so only
 * the first sandbox on a machine pays for the probe.
 */
export async function chooseAccel(image: GuestImage): Promise<AccelChoice> {
  const uid = process.getuid?.() ?? -1;
  const kvm = await stat('/dev/kvm').catch(() => undefined);
  if (!kvm) return { accel: 'tcg', detail: 'TCG (emulation): this host has no /dev/kvm' };
  const usable = await access('/dev/kvm', constants.R_OK | constants.W_OK).then(
    () => true,
    () => false,
  );
  if (!usable) {
    return {
      accel: 'tcg',
      detail: `TCG (emulation): /dev/kvm is not readable and writable by uid ${uid} (add the user to the kvm group)`,
    };
  }
  const key = JSON.stringify([
    'jailed',
    await qemuVersion(),
    release(),
    kvm.rdev,
    kvm.ino,
    image.kernel.path,
  ]);
  const verdict = await cachedProbe('qemu-kvm', key, () => probeKvm(image));
  return verdict.ok
    ? { accel: 'kvm', detail: `KVM (hardware virtualisation): ${verdict.detail}` }
    : { accel: 'tcg', detail: `TCG (emulation): /dev/kvm is there but ${verdict.detail}` };
}

/** Boots the image's kernel and initramfs under KVM with init in probe mode. */
async function probeKvm(image: GuestImage): Promise<{ ok: boolean; detail: string }> {
  const runtime = await makeVmRuntimeDir('kvm-probe');
  const started = performance.now();
  const signal = AbortSignal.timeout(KVM_PROBE_TIMEOUT_MS);
  try {
    const args = qemuArgs(
      {
        kernel: image.kernel.path,
        initramfs: image.initramfs,
        agentSocket: runtime.agentSocket,
        qmpSocket: runtime.qmpSocket,
      },
      {
        accel: 'kvm',
        memoryMiB: 128,
        cpus: 1,
        cmdline: kernelCmdline({ accel: 'kvm', tscKhz: undefined, probe: true }),
      },
    );
    const vm = await launchVm(runtime, args, {
      signal,
      files: [image.kernel.path, image.initramfs],
      kvm: true,
      rootVmmUid: PROBE_VMM_UID,
      control: false,
    }).catch((error: Error) => error);
    // Only what QEMU itself did is a verdict on KVM worth keeping: a failure of IronClaw's own
    // before QEMU ran (a missing build artifact, say) is thrown, not cached.
    if (vm instanceof IronClawError && vm.code !== 'SANDBOX_START_FAILED') throw vm;
    if (vm instanceof Error)
      return { ok: false, detail: `QEMU cannot start a KVM guest: ${firstLine(vm.message)}` };
    try {
      const answered = await new Promise<boolean>((resolve) => {
        let text = '';
        vm.agent.setEncoding('utf8');
        vm.agent.on('data', (chunk: string) => {
          text += chunk;
          if (text.includes(PROBE_REPLY)) resolve(true);
        });
        vm.agent.on('error', () => undefined);
        void vm.exited.then(() => resolve(text.includes(PROBE_REPLY)));
        signal.addEventListener('abort', () => resolve(false), { once: true });
      });
      const ms = Math.round(performance.now() - started);
      return answered
        ? { ok: true, detail: `a probe VM booted to its init in ${ms} ms` }
        : {
            ok: false,
            detail: `a probe VM did not reach its init within ${KVM_PROBE_TIMEOUT_MS} ms (a nested KVM that cannot run an ordinary guest?)`,
          };
    } finally {
      vm.agent.destroy();
      await vm.kill();
    }
  } finally {
    await runtime.remove();
  }
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}
