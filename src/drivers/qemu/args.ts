import type { Accel } from '../../image/vm-guest.js';
import { AGENT_PORT_NAME, CONTROL_PORT_NAME } from '../../image/init.js';

/**
 * The QEMU command line and guest kernel command line of one VM, as pure functions of what the
 * driver decided (tested on their own). The choices come from notes/vmm.md §2, measured on the
 * development machine under TCG:
 * - `-M microvm` with virtio-mmio devices and ACPI left on (the Debian kernel finds virtio-mmio
 *   devices only through ACPI); legacy PIT, PIC and option ROMs off; the RTC left on (off cost
 *   about 2 s of stalls with this kernel);
 * - `tsc_early_khz` from the host under TCG (without it the kernel hangs calibrating the TSC),
 *   and `tsc=reliable`: with no HPET or PM timer to check it against, the kernel otherwise drops
 *   the TSC for the jiffies clocksource, which has 4 ms resolution and no high-resolution timers
 *   or tickless idle (an idle VM then took ~6% of a host core for its 250 Hz tick, ~0.4% with the
 *   TSC; TCG's TSC is QEMU's own monotonic count and the VM has one vCPU, so nothing drifts);
 * - `cryptomgr.notests` (about -400 ms), the PVH vmlinux rather than the bzImage (about -230 ms);
 * - the agent's channel is a virtserialport whose chardev is a Unix socket the host listens on
 *   (no vhost on this machine, so no vsock); QEMU connects to it as a client at start-up, and
 *   dials again a second after the host closes it (the guest agent reopens its port);
 * - QMP on a second Unix socket, where QEMU listens;
 * - QEMU's own seccomp filter (`-sandbox on`), with spawning, privilege changes and resource
 *   control denied: migration over unix: sockets works under it, exec: would not.
 */

export interface VmPaths {
  kernel: string;
  initramfs: string;
  /** The root filesystem image; absent for a probe VM, which never mounts it. */
  rootfs?: string;
  agentSocket: string;
  /** The restore helper's port (image-init.ts); absent for a probe VM. */
  controlSocket?: string;
  qmpSocket: string;
}

export interface VmShape {
  accel: Accel;
  memoryMiB: number;
  cpus: number;
  /** The guest kernel's command line (kernelCmdline). */
  cmdline: string;
  /**
   * Guest RAM in a file instead of anonymous memory (templates, qemu-template.ts): a template
   * VM writes its RAM through to the file (share), a clone maps it copy-on-write (no share).
   */
  memoryFile?: { path: string; share: boolean };
  /** Start paused, waiting for `migrate-incoming` over QMP (a clone restoring a template). */
  incoming?: boolean;
}

export function qemuArgs(paths: VmPaths, shape: VmShape): string[] {
  const cpu =
    shape.accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg', '-cpu', 'max'];
  const { memoryFile } = shape;
  return [
    '-M',
    `microvm,x-option-roms=off,pit=off,pic=off,isa-serial=on,rtc=on,acpi=on${memoryFile ? ',memory-backend=mem' : ''}`,
    ...cpu,
    ...(memoryFile
      ? [
          '-object',
          `memory-backend-file,id=mem,size=${shape.memoryMiB}M,mem-path=${driveOption(memoryFile.path)},share=${memoryFile.share ? 'on' : 'off'}`,
        ]
      : []),
    '-m',
    `${shape.memoryMiB}M`,
    '-smp',
    String(shape.cpus),
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-no-reboot',
    '-kernel',
    paths.kernel,
    '-initrd',
    paths.initramfs,
    '-append',
    shape.cmdline,
    // The serial console goes to QEMU's stdout, which the host keeps (a file and a tail).
    '-chardev',
    'stdio,id=console,signal=off',
    '-serial',
    'chardev:console',
    ...(paths.rootfs === undefined
      ? []
      : [
          '-drive',
          `id=root,file=${driveOption(paths.rootfs)},format=raw,if=none,readonly=on`,
          '-device',
          'virtio-blk-device,drive=root',
        ]),
    '-chardev',
    `socket,id=agent,path=${driveOption(paths.agentSocket)},reconnect=1`,
    '-device',
    'virtio-serial-device',
    '-device',
    `virtserialport,chardev=agent,name=${AGENT_PORT_NAME}`,
    ...(paths.controlSocket === undefined
      ? []
      : [
          '-chardev',
          `socket,id=control,path=${driveOption(paths.controlSocket)},reconnect=1`,
          '-device',
          `virtserialport,chardev=control,name=${CONTROL_PORT_NAME}`,
        ]),
    '-qmp',
    `unix:${driveOption(paths.qmpSocket)},server=on,wait=off`,
    '-sandbox',
    'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny',
    ...(shape.incoming ? ['-incoming', 'defer'] : []),
  ];
}

/** QEMU option values are comma-separated: a comma in a path is written twice. */
function driveOption(path: string): string {
  return path.replaceAll(',', ',,');
}
