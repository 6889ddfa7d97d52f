import type { IsolationReport } from '../core/isolation.js';
import type { Limits } from '../core/limits.js';
import type { GuestImage } from './image-store.js';

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
      namespaces: {
        on: true,
        detail:
          'a whole VM: its own kernel, processes, mounts, network stack and hostname; the box runs as uid 1000 with no capabilities and no new privileges',
      },
      filesystem: {
        on: true,
        detail: `read-only ext4 root on a read-only virtio disk (image ${facts.image.key}); tmpfs /tmp and /workspace; no host files`,
      },
      network: {
        on: true,
        detail: 'no network device: loopback only (vsock to the host carries the agent alone)',
      },
      rlimits: {
        on: true,
        detail: `in the guest: nofile ${limits.openFiles}, nproc ${limits.processes}, fsize ${limits.fileSizeBytes}, core 0`,
      },
      cgroup: {
        on: true,
        detail: `in the guest kernel: pids ${limits.pids}${limits.memoryBytes === undefined ? '' : `, memory ${limits.memoryBytes} bytes`} (guest cgroup /box)`,
      },
      // The box's processes run under no filter of ours; the VMM that holds them does.
      seccomp: {
        on: false,
        detail: `no filter on the box's processes in the guest; the VMM runs under ${facts.vmmSeccomp}`,
      },
    },
  };
}
