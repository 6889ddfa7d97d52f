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
      // The box's processes run under no filter of ours; the VMM that holds them does.
      seccomp: {
        on: false,
        detail: `no filter on the box's processes in the guest; the VMM runs under ${facts.vmmSeccomp}`,
      },
    },
  };
}
