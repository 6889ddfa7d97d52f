/*
 * The bwrap driver: boxes made by bubblewrap from Linux namespaces, IronClaw's compiled seccomp
 * filter, rlimits and cgroups; the fastest driver, and the only one a one-shot `ironclaw exec`
 * can hand its process over to (hand-over.ts). It may import core/, protocol/ and host/.
 */
import type { Driver } from '../../host/driver.js';
import { probeBinary } from '../../host/probe-binary.js';
import { spawnBwrapBox } from './box.js';

export const bwrapDriver: Driver = {
  name: 'bwrap',
  summary: 'Linux namespaces, a seccomp filter, rlimits and cgroups (bubblewrap)',
  capabilities: {
    commandPayload: true,
    pipedStdin: true,
    hostMounts: true,
    extraEnv: true,
    templates: false,
    pty: true,
    egress: 'socket',
    startTimeoutMs: 15_000,
    ownMemory: false,
    // Measured: `sh -c 'echo hi'` starts in 0.5 MiB and 2 pids (bwrap's own pid 1 and the
    // command); the guest agent (node) with an exec beside it in 14 MiB and 13 pids (node's
    // threads count), given room for a loaded machine.
    floors: {
      command: { memoryBytes: 2 * 1024 ** 2, pids: 2 },
      agent: { memoryBytes: 24 * 1024 ** 2, pids: 16 },
    },
  },
  probe: () => probeBinary('bwrap binary', 'bwrap', 'apt-get install bubblewrap'),
  spawn: spawnBwrapBox,
};
