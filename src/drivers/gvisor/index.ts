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
    startTimeoutMs: 30_000,
  },
  probe: async () => ({
    name: 'gvisor sandbox (runsc)',
    ...(await (await import('./platform.js')).probeGvisor()),
  }),
  spawn: async (options) => (await import('./box.js')).spawnGvisorBox(options),
  sweep: async () => (await import('./runtime-dir.js')).sweepRuntimeDirs(),
};
