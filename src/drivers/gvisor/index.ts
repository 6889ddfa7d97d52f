/*
 * The gVisor driver: boxes run by runsc, a user-space kernel between the box and the host's, from
 * an OCI bundle this folder writes. It may import core/, protocol/ and host/. Its code loads on
 * first use, so a run that does not use gVisor pays nothing for it.
 */
import type { Driver } from '../../host/driver.js';

export const gvisorDriver: Driver = {
  name: 'gvisor',
  summary: "gVisor's user-space kernel (runsc) between the box and the host's",
  capabilities: {
    commandPayload: true,
    hostMounts: false,
    extraEnv: false,
    templates: false,
    pty: true,
    startTimeoutMs: 30_000,
    ownMemory: false,
    // Measured: the memory limit also holds runsc, its gofer and sentry; `sh -c 'echo hi'`
    // started in 20 MiB and 1 pid, the guest agent in 44 MiB (2 in 5 at 39 MiB) and 16 pids
    // (at 12 the agent started but could not fork a command).
    floors: {
      command: { memoryBytes: 32 * 1024 ** 2, pids: 1 },
      agent: { memoryBytes: 64 * 1024 ** 2, pids: 16 },
    },
  },
  probe: async () => ({
    name: 'gvisor sandbox (runsc)',
    ...(await (await import('./platform.js')).probeGvisor()),
  }),
  spawn: async (options) => (await import('./box.js')).spawnGvisorBox(options),
  sweep: async () => (await import('./runtime-dir.js')).sweepRuntimeDirs(),
};
