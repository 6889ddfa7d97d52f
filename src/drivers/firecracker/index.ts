/*
 * The Firecracker driver: each box is a micro-VM started through Firecracker's REST API under its
 * jailer, reached over hybrid vsock. It needs root, x86-64 and a KVM that boots guests; it is
 * contract-tested, and runs where the host has all of that. It may import core/, protocol/,
 * host/ and image/. Its code loads on first use.
 */
import type { Driver } from '../../host/driver.js';
import { GUEST_AGENT_FLOOR } from '../../image/vm-guest.js';

export const firecrackerDriver: Driver = {
  name: 'firecracker',
  summary: 'a micro-VM with its own guest kernel (Firecracker on KVM, jailed)',
  capabilities: {
    commandPayload: false,
    hostMounts: false,
    extraEnv: false,
    templates: false,
    // The guest's init mounts devpts and its userland has script(1) (src/image).
    pty: true,
    egress: 'channel',
    // The driver returns once the agent's vsock connection is up (the boot is behind it).
    startTimeoutMs: 15_000,
    ownMemory: true,
    // The same guest image and agent as the qemu driver's, so the same floor.
    floors: { command: GUEST_AGENT_FLOOR, agent: GUEST_AGENT_FLOOR },
  },
  probe: async () => {
    const missing = await (await import('./tools.js')).firecrackerUnavailable();
    return {
      name: 'firecracker binaries and KVM',
      ok: missing === undefined,
      detail: missing ?? 'x86-64, root, /dev/kvm and the firecracker and jailer binaries are here',
      fix: 'as root on x86-64 Linux with a working /dev/kvm, install firecracker, jailer (and seccompiler-bin) from one Firecracker release',
    };
  },
  spawn: async (options) => (await import('./box.js')).spawnFirecrackerBox(options),
};
