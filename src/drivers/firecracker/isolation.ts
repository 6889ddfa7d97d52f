import type { IsolationReport } from '../../core/isolation.js';
import type { Limits } from '../../core/limits.js';
import type { GuestImage } from '../../image/store.js';
import { guestKernelLayers } from '../../image/guest-layers.js';

/**
 * What a Firecracker box really has (DESIGN.md: honest tiers). As with QEMU, the box's limits
 * are enforced by its own guest kernel; the `kernel` layer says what holds that kernel: KVM, and
 * a VMM jailed by Firecracker's jailer, with the seccomp filter it actually runs under.
 */
export function firecrackerIsolation(facts: {
  limits: Limits;
  image: GuestImage;
  memoryMiB: number;
  /** Host uid and gid the VMM runs as. */
  hostUid: number;
  /** The VMM's seccomp filter, in words (ours compiled by seccompiler-bin, or Firecracker's). */
  vmmSeccomp: string;
  /** The VMM's own cgroup limits, in words. */
  vmmCgroup: string;
  /** Firecracker's version line. */
  version: string;
  /** The sandbox filter the guest agent applies to every command; undefined when turned off. */
  guestFilter: string | undefined;
}): IsolationReport {
  const { limits } = facts;
  return {
    driver: 'firecracker',
    hostUid: facts.hostUid,
    layers: {
      kernel: {
        on: true,
        detail: `its own guest kernel ${facts.image.kernel.release} in a Firecracker microVM (${facts.version}) with ${facts.memoryMiB} MiB of RAM and 1 vCPU, on KVM; the VMM is jailed by Firecracker's jailer: a chroot holding only the image files, its own mount and pid namespaces, host uid ${facts.hostUid}, ${facts.vmmCgroup}, rlimits (nofile, fsize), and ${facts.vmmSeccomp}`,
      },
      ...guestKernelLayers(facts.image, limits),
      network: {
        on: true,
        detail: 'no network device: loopback only (vsock to the host carries the agent alone)',
      },
      // One filter per layer: on the VMM (host side), on every command in the guest.
      seccomp: {
        on: facts.guestFilter !== undefined,
        detail: `host VMM: ${facts.vmmSeccomp}; guest workload: ${facts.guestFilter === undefined ? "IronClaw's sandbox filter turned off by the caller (seccomp: none); commands run under their guest kernel only" : `IronClaw's sandbox filter (${facts.guestFilter}), the same program bwrap loads, installed by the guest agent's loader in every command before its exec (the agent itself, a node process, cannot filter itself)`}`,
      },
    },
  };
}
