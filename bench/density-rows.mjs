// Density (issue 18, item 4): many idle boxes held by this one process, what each costs the
// host in memory (the PSS of every process of the box, process-memory.mjs) and the exec round
// trip across them, round robin, so every exec finds a box that sat idle while the others ran.
// 100 bwrap boxes, 20 gVisor boxes and 10 QEMU clones of the template by default
// (BENCH_DENSITY=bwrap:100,gvisor:20,qemu:10 changes the counts or leaves drivers out).
import { setTimeout as delay } from 'node:timers/promises';
import { gvisorUnavailable } from './gvisor-rows.mjs';
import { boxMemory } from './process-memory.mjs';
import { qemuUnavailable } from './qemu-rows.mjs';
import { summarize } from './stats.mjs';

/** Targets for bwrap (issue 18). */
const BWRAP_PSS_MIB = 8;
const BWRAP_EXEC_MS = 5;
/** Rounds of one exec per box after the first (untimed) one. */
const EXEC_ROUNDS = 3;
/** Idle time before the memory is read: the agents' exec stubs are made, start-up garbage is. */
const SETTLE_MS = 2000;

/** @type {Record<string, () => Promise<string | undefined>>} */
const MISSING = {
  bwrap: async () => undefined,
  gvisor: gvisorUnavailable,
  qemu: qemuUnavailable,
};

function plan() {
  const text = process.env.BENCH_DENSITY ?? 'bwrap:100,gvisor:20,qemu:10';
  return text.split(',').map((item) => {
    const [driver = '', count = ''] = item.split(':');
    if (!(driver in MISSING) || !/^[1-9]\d{0,3}$/.test(count))
      throw new Error(
        `BENCH_DENSITY item ${JSON.stringify(item)} is not DRIVER:COUNT (drivers: ${Object.keys(MISSING).join(', ')})`,
      );
    return { driver, count: Number(count) };
  });
}

/**
 * @param {import('./api-rows.mjs').Library} library
 * @param {import('./run.mjs').Plan} counts
 * @param {(message: string) => void} progress
 * @returns {Promise<import('./report.mjs').Row[]>}
 */
export async function measureDensity(library, counts, progress) {
  const rows = [];
  for (const { driver, count } of plan()) {
    const missing = await MISSING[driver]?.();
    if (missing) {
      progress(`density rows absent: ${driver}: ${missing}`);
      continue;
    }
    progress(`density: ${count} idle ${driver} boxes`);
    rows.push(...(await measureDriver(library, { driver, count }, counts)));
  }
  return rows;
}

/**
 * @param {import('./api-rows.mjs').Library} library
 * @param {{ driver: string, count: number }} what
 * @param {import('./run.mjs').Plan} counts
 */
async function measureDriver(library, { driver, count }, counts) {
  // Children from before (a VM driver's resident helper, say) are not this row's boxes.
  const before = new Set((await boxMemory()).tops);
  /** @type {{ exec: Function, destroy: () => Promise<void> }[]} */
  const boxes = [];
  try {
    for (let index = 0; index < count; index++) {
      counts.signal.throwIfAborted();
      const sandbox = await library.createSandbox({ driver, startTimeoutMs: 600_000 });
      boxes.push(sandbox);
      await sandbox.exec(['true']);
    }
    await delay(SETTLE_MS, undefined, { signal: counts.signal });
    const memory = await boxMemory(before);
    if (memory.boxes.length !== count)
      throw new Error(
        `density: ${count} ${driver} boxes but ${memory.boxes.length} process trees under the bench`,
      );
    const exec = [];
    for (let round = 0; round < EXEC_ROUNDS; round++) {
      for (const sandbox of boxes) {
        counts.signal.throwIfAborted();
        const started = performance.now();
        const result = await sandbox.exec(['true']);
        exec.push(performance.now() - started);
        if (result.exitCode !== 0) throw new Error(`${driver} exec true exited ${result.exitCode}`);
      }
    }
    const parts = Object.fromEntries(
      Object.entries(memory.byName)
        .sort(([, a], [, b]) => b - a)
        .map(([name, mib]) => [name, { samples: [mib / count], stats: summarize([mib / count]) }]),
    );
    return [
      {
        id: `density-${driver}-pss`,
        name: `${count} idle ${driver} boxes in one process: PSS per box (${top(parts)})`,
        informational: driver !== 'bwrap',
        samples: memory.boxes,
        stats: summarize(memory.boxes),
        parts,
        unit: 'MiB',
      },
      {
        id: `density-${driver}-exec`,
        name: `${count} idle ${driver} boxes: exec(["true"]) round robin`,
        informational: driver !== 'bwrap',
        samples: exec,
        stats: summarize(exec),
      },
    ];
  } finally {
    await Promise.allSettled(boxes.map((sandbox) => sandbox.destroy()));
  }
}

/** The biggest parts of a box, for the row's name: "node (agent) 13.2, bwrap 0.3 MiB". */
function top(/** @type {Record<string, { samples: number[] }>} */ parts) {
  const named = Object.entries(parts)
    .slice(0, 3)
    .map(([name, part]) => `${name} ${(part.samples[0] ?? 0).toFixed(1)}`);
  return `${named.join(', ')} MiB`;
}

/** @param {import('./report.mjs').Row[]} rows @returns {import('./report.mjs').Target[]} */
export function densityTargets(rows) {
  const pss = rows.find((row) => row.id === 'density-bwrap-pss');
  const exec = rows.find((row) => row.id === 'density-bwrap-exec');
  if (!pss || !exec) return [];
  return [
    {
      row: pss.id,
      description: `idle bwrap box PSS p50 <= ${BWRAP_PSS_MIB} MiB`,
      limitMs: BWRAP_PSS_MIB,
      actualMs: pss.stats.p50,
      pass: pss.stats.p50 <= BWRAP_PSS_MIB,
    },
    {
      row: exec.id,
      description: `exec across the idle bwrap boxes p50 <= ${BWRAP_EXEC_MS} ms`,
      limitMs: BWRAP_EXEC_MS,
      actualMs: exec.stats.p50,
      pass: exec.stats.p50 <= BWRAP_EXEC_MS,
    },
  ];
}
