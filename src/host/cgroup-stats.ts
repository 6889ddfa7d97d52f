import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type BoxStats,
  CGROUP_V2_FILES,
  cgroupLimit,
  cgroupV2Numbers,
} from '../core/cgroup-v2-stats.js';

/** Clock ticks a second of /proc/PID/stat's times (USER_HZ: 100 on every Linux ABI we run on). */
const USER_HZ = 100;

/** cgroup v2: one directory with memory.current, pids.current and cpu.stat. */
export async function cgroupV2Stats(path: string): Promise<BoxStats> {
  const [memoryCurrent = '', memoryMax = '', pidsCurrent = '', pidsMax = '', cpuStat = ''] =
    await Promise.all(
      CGROUP_V2_FILES.map((file) => readFile(join(path, file), 'utf8').catch(() => '')),
    );
  return cgroupV2Numbers({ memoryCurrent, memoryMax, pidsCurrent, pidsMax, cpuStat });
}

/**
 * cgroup v1: the memory and pids hierarchies (IronClaw makes no cpuacct group), so CPU time is
 * summed from /proc over the box's live processes: their own time and that of the children
 * they waited for.
 */
export async function cgroupV1Stats(memoryPath: string, pidsPath: string): Promise<BoxStats> {
  const [memory, memoryMax, pids, pidsMax, procs] = await Promise.all(
    [
      join(memoryPath, 'memory.usage_in_bytes'),
      join(memoryPath, 'memory.limit_in_bytes'),
      join(pidsPath, 'pids.current'),
      join(pidsPath, 'pids.max'),
      join(pidsPath, 'cgroup.procs'),
    ].map((file) => readFile(file, 'utf8').catch(() => '')),
  );
  const memoryLimit = cgroupLimit(memoryMax);
  const ticks = await Promise.all(
    (procs ?? '')
      .split('\n')
      .filter(Boolean)
      .map(async (pid) => {
        const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
        // After the command name's closing parenthesis: fields 14-17 are utime, stime, cutime, cstime.
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return [11, 12, 13, 14].reduce((sum, index) => sum + Number(fields[index] ?? 0), 0);
      }),
  );
  return {
    memoryBytes: Number(memory?.trim() || 0),
    // v1 says "no limit" as a huge number (PAGE_COUNTER_MAX pages).
    memoryLimitBytes: memoryLimit !== undefined && memoryLimit < 2 ** 62 ? memoryLimit : undefined,
    pids: Number(pids?.trim() || 0),
    pidsLimit: cgroupLimit(pidsMax),
    cpuSeconds: ticks.reduce((sum, tick) => sum + tick, 0) / USER_HZ,
  };
}
