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
    hostMounts: true,
    extraEnv: true,
    templates: false,
    startTimeoutMs: 15_000,
  },
  probe: () => probeBinary('bwrap binary', 'bwrap', 'apt-get install bubblewrap'),
  spawn: spawnBwrapBox,
};
