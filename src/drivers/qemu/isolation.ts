import type { IsolationReport } from '../../core/isolation.js';
import type { Limits } from '../../core/limits.js';
import type { GuestImage } from '../../image/store.js';
import { guestKernelLayers } from '../../image/guest-layers.js';
import type { AccelChoice } from './accel.js';

/**
 * What a QEMU box really has (DESIGN.md: honest tiers). Everything but the two seccomp filters
 * (the VMM's, the guest workload's) is enforced by the guest kernel, which is the box's own: the
 * layers say so, and the `kernel` layer says whether that kernel runs on hardware virtualisation
 * (KVM) or is emulated (TCG), and why.
 */
export function qemuIsolation(facts: {
  accel: AccelChoice;
  limits: Limits;
  image: GuestImage;
  memoryMiB: number;
  /** Host uid the VMM runs as. */
  hostUid: number;
  /** How the VM started: booted cold, or restored from a template (and reseeded). */
  start: string;
  /** IronClaw's filter on the VMM, in words; undefined when the caller turned it off. */
  vmmFilter: string | undefined;
  /** The sandbox filter the guest agent applies to every command; undefined when turned off. */
  guestFilter: string | undefined;
}): IsolationReport {
  const { limits } = facts;
  return {
    driver: 'qemu',
    hostUid: facts.hostUid,
    layers: {
      kernel: {
        on: true,
        detail: `its own guest kernel ${facts.image.kernel.release} in a QEMU microvm with ${facts.memoryMiB} MiB of RAM and 1 vCPU; ${facts.accel.detail}; ${facts.start}; the VMM is jailed: host uid ${facts.hostUid}, its own user, mount, pid, network, IPC and UTS namespaces holding only /usr, the image and its runtime directory, no capabilities, rlimits, and seccomp filters`,
      },
      ...guestKernelLayers(facts.image, limits),
      network: { on: true, detail: 'no network device: loopback only' },
      // Two filters, one per layer: ours on the VMM (host side) and ours on every command in
      // the guest (applied by the guest agent before exec); `seccomp: 'none'` turns off both.
      seccomp: {
        on: facts.vmmFilter !== undefined && facts.guestFilter !== undefined,
        detail: `host VMM: ${facts.vmmFilter === undefined ? "IronClaw's VMM filter turned off by the caller (seccomp: none); the VMM runs under QEMU's own filter only" : `IronClaw's allow-list (${facts.vmmFilter}) and QEMU's own filter`} (-sandbox on: spawning, privilege changes, resource control and obsolete calls denied); guest workload: ${facts.guestFilter === undefined ? "IronClaw's sandbox filter turned off by the caller (seccomp: none); commands run under their guest kernel only" : `IronClaw's sandbox filter (${facts.guestFilter}), the same program bwrap loads, installed by the guest agent's loader in every command before its exec (the agent itself, a node process, cannot filter itself)`}`,
      },
    },
  };
}
