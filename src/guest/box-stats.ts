import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CGROUP_V2_FILES, cgroupV2Numbers } from '../core/cgroup-v2-stats.js';
import type { GuestStatsResult } from '../protocol/guest-api.js';
import { BOX_CGROUP } from './oom-watch.js';

/**
 * The box's use against its limits as the VM guest's kernel counts it, in the cgroup the init
 * puts the agent and every command in; undefined where there is none (bwrap, gVisor: the host
 * counts those boxes in its own cgroups).
 */
export async function guestBoxStats(): Promise<GuestStatsResult> {
  const texts = await Promise.all(
    CGROUP_V2_FILES.map((file) => readFile(join(BOX_CGROUP, file), 'utf8').catch(() => undefined)),
  );
  const [memoryCurrent, memoryMax, pidsCurrent, pidsMax, cpuStat] = texts;
  if (memoryCurrent === undefined || pidsCurrent === undefined) return {};
  const stats = cgroupV2Numbers({
    memoryCurrent,
    memoryMax: memoryMax ?? '',
    pidsCurrent,
    pidsMax: pidsMax ?? '',
    cpuStat: cpuStat ?? '',
  });
  // Optional fields on the wire are absent, never undefined.
  const { memoryLimitBytes, pidsLimit, ...counts } = stats;
  return {
    stats: {
      ...counts,
      ...(memoryLimitBytes === undefined ? {} : { memoryLimitBytes }),
      ...(pidsLimit === undefined ? {} : { pidsLimit }),
    },
  };
}
