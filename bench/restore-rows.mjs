// QEMU template restore, taken apart (issue 18, item 5): createSandbox of a clone until its agent
// answers, then its first exec (which pays TCG's translation of the code it runs first), then a
// second exec on the same clone (code already translated); and a warm pool of clones, acquire ->
// first result, beside the in-VM floor (box-floor.mjs) of a clone. Absent where QEMU is.
import { processFloor } from './box-floor.mjs';
import { qemuUnavailable } from './qemu-rows.mjs';
import { summarize } from './stats.mjs';

/** Restore -> first result may take this long (issue 18). */
const RESTORE_MS = 200;

/**
 * @param {import('./api-rows.mjs').Library} library
 * @param {import('./run.mjs').Plan} counts
 * @param {(message: string) => void} progress
 * @returns {Promise<import('./report.mjs').Row[]>}
 */
export async function measureRestore(library, counts, progress) {
  const missing = await qemuUnavailable();
  if (missing) {
    progress(`restore rows absent: ${missing}`);
    return [];
  }
  // The first clone makes the template if there is none (a cold boot, untimed).
  await (await library.createSandbox({ driver: 'qemu', startTimeoutMs: 600_000 })).destroy();
  progress(`restore rows: ${counts.runs} clones`);
  /** @type {Record<'total' | 'ready' | 'first' | 'second', number[]>} */
  const samples = { total: [], ready: [], first: [], second: [] };
  for (let index = 0; index < counts.warmup + counts.runs; index++) {
    counts.signal.throwIfAborted();
    const started = performance.now();
    const sandbox = await library.createSandbox({ driver: 'qemu', startTimeoutMs: 60_000 });
    try {
      const ready = performance.now();
      await expectTrue(sandbox);
      const first = performance.now();
      await expectTrue(sandbox);
      if (index >= counts.warmup) {
        samples.total.push(first - started);
        samples.ready.push(ready - started);
        samples.first.push(first - ready);
        samples.second.push(performance.now() - first);
      }
    } finally {
      await sandbox.destroy();
    }
  }
  progress('restore rows: warm pool of clones');
  const pool = new library.SandboxPool({ size: 2, sandbox: { driver: 'qemu' } });
  const acquired = [];
  let floor;
  try {
    pool.start();
    for (let index = 0; index < counts.warmup + counts.runs; index++) {
      counts.signal.throwIfAborted();
      await pool.whenFull();
      const started = performance.now();
      const sandbox = await pool.acquire();
      try {
        await expectTrue(sandbox);
        if (index >= counts.warmup) acquired.push(performance.now() - started);
        if (index === counts.warmup + counts.runs - 1) floor = await processFloor(sandbox, counts);
      } finally {
        await sandbox.destroy();
      }
    }
  } finally {
    await pool.close();
  }
  const part = (/** @type {number[]} */ values) => ({ samples: values, stats: summarize(values) });
  const rows = [
    {
      id: 'restore-first',
      name: 'qemu clone: createSandbox + first exec(["true"]) (parts: ready, first exec)',
      informational: false,
      samples: samples.total,
      stats: summarize(samples.total),
      parts: { ready: part(samples.ready), firstExec: part(samples.first) },
    },
    {
      id: 'restore-second',
      name: 'qemu clone: second exec(["true"]) (its code translated by then)',
      informational: true,
      samples: samples.second,
      stats: summarize(samples.second),
    },
    {
      id: 'restore-pool',
      name: 'qemu warm pool of clones: acquire + exec(["true"])',
      informational: true,
      samples: acquired,
      stats: summarize(acquired),
    },
  ];
  if (floor && 'samples' in floor)
    rows.push({
      id: 'restore-floor',
      name: 'qemu pooled clone, inside, no agent: posix_spawn(/bin/true) + wait',
      informational: true,
      samples: floor.samples,
      stats: summarize(floor.samples),
    });
  return rows;
}

/** @param {{ exec: Function }} sandbox */
async function expectTrue(sandbox) {
  const result = await sandbox.exec(['true']);
  if (result.exitCode !== 0) throw new Error(`qemu clone: exec true exited ${result.exitCode}`);
}

/** @param {import('./report.mjs').Row[]} rows @returns {import('./report.mjs').Target[]} */
export function restoreTargets(rows) {
  const row = rows.find((candidate) => candidate.id === 'restore-first');
  if (!row) return [];
  return [
    {
      row: row.id,
      description: `qemu template restore -> first result p50 <= ${RESTORE_MS} ms`,
      limitMs: RESTORE_MS,
      actualMs: row.stats.p50,
      pass: row.stats.p50 <= RESTORE_MS,
    },
  ];
}
