import type { LimitFloor, Limits } from '../core/limits.js';
import { SECCOMP_CMDLINE_WORD } from '../protocol/guest-seccomp.js';

/*
 * What a VM guest built from IronClaw's image expects of any VMM: its RAM and its kernel
 * command line, which the guest's init reads (image-init.ts). QEMU and Firecracker both use it.
 */

export type Accel = 'kvm' | 'tcg';

/** Guest RAM when no memory limit asks for more: node and python3 need room. */
export const DEFAULT_MEMORY_MIB = 256;
/** Room the guest kernel, init and agent need beside a box's memory limit. */
const MEMORY_HEADROOM_MIB = 160;

/**
 * The least a VM guest's box needs to start: the limits apply to the guest's cgroup that holds
 * the agent (node) and its commands. Measured under QEMU (TCG): at 16 MiB the guest did not come
 * up, at 24 MiB it did and answered an exec; 32 MiB gives it room.
 */
export const GUEST_AGENT_FLOOR: LimitFloor = { memoryBytes: 32 * 1024 ** 2, pids: 16 };

/** Guest RAM for a box: the default, or the memory limit plus the guest's own needs. */
export function guestMemoryMiB(limits: Pick<Limits, 'memoryBytes'>): number {
  if (limits.memoryBytes === undefined) return DEFAULT_MEMORY_MIB;
  return Math.max(
    DEFAULT_MEMORY_MIB,
    Math.ceil(limits.memoryBytes / 1024 ** 2) + MEMORY_HEADROOM_MIB,
  );
}

export interface CmdlineOptions {
  accel: Accel;
  /** The host TSC frequency in kHz; needed under TCG. */
  tscKhz: number | undefined;
  /** The box's limits, which the guest's init applies (image-init.ts). */
  limits?: Limits;
  /** A probe VM: init answers on the agent port and powers off. */
  probe?: boolean;
  /** The sandbox filter's sha256: every command in the guest runs under it. */
  seccompSha256?: string | undefined;
}

export function kernelCmdline(options: CmdlineOptions): string {
  const words = [
    'console=ttyS0',
    'quiet',
    'cryptomgr.notests',
    'reboot=t',
    'panic=-1',
    'i8042.noaux',
    'i8042.nomux',
    'i8042.nopnp',
    'i8042.dumbkbd',
    'swiotlb=noforce',
  ];
  if (options.accel === 'tcg' && options.tscKhz !== undefined)
    words.push(`tsc_early_khz=${options.tscKhz}`, 'tsc=reliable');
  if (options.probe) words.push('ironclaw.probe=1');
  // The guest starts every command under this filter, which its image must hold.
  if (options.seccompSha256 !== undefined)
    words.push(`${SECCOMP_CMDLINE_WORD}=${options.seccompSha256}`);
  const { limits } = options;
  if (limits) {
    words.push(
      `ironclaw.tmp=${limits.tmpBytes}`,
      `ironclaw.workspace=${limits.workspaceBytes}`,
      `ironclaw.nofile=${limits.openFiles}`,
      `ironclaw.nproc=${limits.processes}`,
      `ironclaw.fsize=${limits.fileSizeBytes}`,
      `ironclaw.pids=${limits.pids}`,
      `ironclaw.memory=${limits.memoryBytes ?? 'max'}`,
    );
  }
  return words.join(' ');
}

/** The host TSC frequency in kHz, from /proc/cpuinfo's "cpu MHz" (a text given as input). */
export function tscKhzFromCpuinfo(cpuinfo: string): number | undefined {
  const mhz = /^cpu MHz\s*:\s*([\d.]+)$/m.exec(cpuinfo)?.[1];
  return mhz === undefined ? undefined : Math.round(Number(mhz) * 1000);
}
