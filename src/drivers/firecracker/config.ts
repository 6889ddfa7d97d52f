import type { Limits } from '../../core/limits.js';
import {
  type ApiRequest,
  putAction,
  putBootSource,
  putDrive,
  putLogger,
  putMachineConfig,
  putVsock,
} from './api.js';
import { kernelCmdline } from '../../image/vm-guest.js';

/**
 * What a Firecracker box is made of, as pure functions of the box's limits (tested on their own,
 * and by the API contract test, which checks every request of the boot sequence against the
 * spec). Paths are as the jailed VMM sees them: in its chroot's root.
 */

/** The guest agent's AF_VSOCK port: 1024 or above, so uid 1000 may bind it. */
export const AGENT_VSOCK_PORT = 1024;
/** The guest's vsock CID (3, the first one not reserved); each VM has its own vsock device. */
export const GUEST_CID = 3;

/** File names in the chroot's root. */
export const IN_CHROOT = {
  kernel: 'vmlinux',
  initramfs: 'initramfs.cpio',
  rootfs: 'rootfs.ext4',
  log: 'firecracker.log',
  apiSocket: 'api.sock',
  vsockSocket: 'vsock.sock',
  seccomp: 'seccomp.bpf',
} as const;

/**
 * The guest kernel's command line: the one QEMU guests get (the box's limits for init, no
 * i8042 probing, no crypto self-tests), ending the VM by a reset instead of a power-off, which
 * Firecracker on x86 does not notice: `reboot=k` resets through the keyboard controller, which
 * Firecracker emulates and exits on; `panic=1` makes a panic such a reset, so a dying guest ends
 * the VMM and the start fails at once with the console quoted. Firecracker adds `pci=off`.
 */
export function firecrackerCmdline(limits: Limits, seccompSha256?: string): string {
  const words = kernelCmdline({ accel: 'kvm', tscKhz: undefined, limits, seccompSha256 })
    .split(' ')
    .filter((word) => !/^(reboot|panic)=/.test(word));
  words.push('reboot=k', 'panic=1', 'ironclaw.halt=reboot', `ironclaw.vsock=${AGENT_VSOCK_PORT}`);
  return words.join(' ');
}

/** Firecracker's own arguments (after the jailer's `--`). */
export function firecrackerArgs(options: { seccompFilter: boolean }): string[] {
  return [
    '--api-sock',
    `/${IN_CHROOT.apiSocket}`,
    ...(options.seccompFilter ? ['--seccomp-filter', `/${IN_CHROOT.seccomp}`] : []),
  ];
}

/**
 * The API requests that configure and start a cold VM, in order: the log first (so the rest
 * is logged), then machine, kernel, the root filesystem disk (read-only; the initramfs mounts it
 * itself, so it is not the kernel's root device), the vsock device the agent is reached by, and
 * InstanceStart. No network interface: the guest has loopback only.
 */
export function bootRequests(options: { memoryMiB: number; cmdline: string }): ApiRequest[] {
  return [
    putLogger({ logPath: `/${IN_CHROOT.log}`, level: 'Warning', showLevel: true }),
    putMachineConfig({ vcpuCount: 1, memSizeMib: options.memoryMiB, smt: false }),
    putBootSource({
      kernelImagePath: `/${IN_CHROOT.kernel}`,
      initrdPath: `/${IN_CHROOT.initramfs}`,
      bootArgs: options.cmdline,
    }),
    putDrive({
      driveId: 'rootfs',
      pathOnHost: `/${IN_CHROOT.rootfs}`,
      isRootDevice: false,
      isReadOnly: true,
    }),
    putVsock({ guestCid: GUEST_CID, udsPath: `/${IN_CHROOT.vsockSocket}` }),
    putAction('InstanceStart'),
  ];
}
