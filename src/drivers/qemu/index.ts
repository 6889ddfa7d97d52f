/*
 * The QEMU driver: each box is a micro-VM (`-M microvm`) with its own guest kernel, on KVM where a
 * probe VM boots and under emulation (TCG) otherwise; sandboxes are clones of a VM template. The
 * VMM runs jailed (bwrap, our seccomp allow-list). It may import core/, protocol/, host/ and
 * image/. Its code loads on first use.
 */
import type { Driver } from '../../host/driver.js';
import { probeBinary } from '../../host/probe-binary.js';
import { GUEST_AGENT_FLOOR } from '../../image/vm-guest.js';

export const qemuDriver: Driver = {
  name: 'qemu',
  summary: 'a micro-VM with its own guest kernel (QEMU, KVM or TCG)',
  capabilities: {
    commandPayload: false,
    hostMounts: false,
    extraEnv: false,
    templates: true,
    // The guest's init mounts devpts and its userland has script(1) (src/image).
    pty: true,
    egress: 'channel',
    // A VM under emulation boots a kernel and starts node in several seconds, more under load.
    startTimeoutMs: 90_000,
    ownMemory: true,
    // The limit is the guest's cgroup of the agent and its commands (the guest kernel has RAM of
    // its own beside it); measured with the agent answering an exec.
    floors: {
      command: { memoryBytes: GUEST_AGENT_FLOOR.memoryBytes, pids: GUEST_AGENT_FLOOR.pids },
      agent: GUEST_AGENT_FLOOR,
    },
  },
  probe: async () =>
    probeBinary(
      'qemu binary',
      (await import('./launch.js')).qemuBinary(),
      'apt-get install qemu-system-x86 busybox-static e2fsprogs cpio python3 (or set IRONCLAW_QEMU)',
    ),
  spawn: async (options) => (await import('./box.js')).spawnQemuBox(options),
  sweep: async () => (await import('./runtime-dir.js')).sweepVmRuntimeDirs(),
};
