// IronClaw benchmark: `npm run bench` (builds first). BENCH_RUNS sets the measured runs per row
// (default 50); 3 warm-up runs per row come first and are not counted. Prints a table, then
// writes bench/results/latest.json and a timestamped copy. Exits 0 when a target is missed:
// this is a report, not a test. A row that cannot run at all is an error (exit 1).
// BENCH_ONLY=floor,density,restore runs only those groups of rows (extra-rows.mjs), with their targets.
import { mkdir } from 'node:fs/promises';
import { URL, pathToFileURL } from 'node:url';
import { measureColdApi, measureLiveExec, measureWarmPool } from './api-rows.mjs';
import { formatSrtComparison, measureEgress } from './egress-rows.mjs';
import { gvisorUnavailable, measureGvisor } from './gvisor-rows.mjs';
import { measureQemu, qemuUnavailable } from './qemu-rows.mjs';
import { extraTargets, measureExtra, onlyGroups } from './extra-rows.mjs';
import { hostFacts, sourceFacts } from './host-facts.mjs';
import { measureInterleaved, processRows } from './process-rows.mjs';
import {
  evaluateTargets,
  formatColdRatio,
  formatOutOfReach,
  formatTable,
  writeResult,
} from './report.mjs';
import { snapshotPackage } from './snapshot.mjs';
import { summarize } from './stats.mjs';

const WARMUP = 3;
const RESULTS = new URL('./results/', import.meta.url);

/**
 * How many runs each row gets. Ctrl-C aborts `signal`, which every row checks between runs, so
 * the finally blocks still destroy the boxes and the pool (a second Ctrl-C kills outright).
 * @typedef {{ runs: number, warmup: number, signal: AbortSignal }} Plan
 */

function runsFromEnv() {
  const text = process.env.BENCH_RUNS ?? '50';
  const runs = Number(text);
  if (!Number.isInteger(runs) || runs < 1)
    throw new Error(`BENCH_RUNS must be a positive integer, got ${JSON.stringify(text)}`);
  return runs;
}

/** @param {string} message */
function progress(message) {
  process.stderr.write(`bench: ${message}\n`);
}

/**
 * @param {{ total: number[], parts: Record<string, number[]> }} timings
 * @returns {Pick<import('./report.mjs').Row, 'samples' | 'stats' | 'parts'>}
 */
function withStats(timings) {
  const parts = Object.entries(timings.parts).map(([name, samples]) => [
    name,
    { samples, stats: summarize(samples) },
  ]);
  return {
    samples: timings.total,
    stats: summarize(timings.total),
    ...(parts.length > 0 ? { parts: Object.fromEntries(parts) } : {}),
  };
}

/**
 * @param {Plan} counts
 * @param {string} root the package copy to measure
 * @returns {Promise<import('./report.mjs').Row[]>}
 */
async function measureAll(counts, root) {
  /** @type {import('./api-rows.mjs').Library} */
  const library = await import(pathToFileURL(`${root}/dist/index.js`).href);
  // The library refuses to start boxes while this process holds descriptors a box would inherit
  // (our parent's, e.g. npm's or a CI runner's); an embedder closes them first, as the CLI does.
  // Done before any row, so the process rows' children inherit the same descriptors as the CLI's.
  const closed = library.closeInheritedFds?.() ?? [];
  if (closed.length > 0) progress(`closed inherited descriptors ${closed.join(', ')}`);

  const only = onlyGroups();
  if (only) return measureExtra(library, counts, progress, only);
  /** @type {import('./report.mjs').Row[]} */
  const rows = [];
  const spawned = await processRows(`${root}/bin/ironclaw.cjs`);
  progress(`process rows, interleaved: ${spawned.map((row) => row.id).join(', ')}`);
  const spawnedResults = await measureInterleaved(spawned, counts);
  spawned.forEach((row, index) => {
    const { samples, failures } = spawnedResults[index] ?? { samples: [], failures: [] };
    rows.push({ ...row, samples, stats: summarize(samples), failures });
  });

  progress('warm pool: acquire + first exec');
  const pool = await measureWarmPool(library, counts);
  progress('cold API: createSandbox + first exec');
  const coldApi = await measureColdApi(library, counts);
  progress('live exec round trips');
  const live = await measureLiveExec(library, counts);
  rows.push(
    {
      id: 'pool',
      name: 'warm pool: acquire + exec(["true"])',
      informational: false,
      ...withStats(pool),
    },
    {
      id: 'api-cold',
      name: 'cold API: createSandbox + exec(["true"])',
      informational: true,
      ...withStats(coldApi),
    },
    { id: 'exec', name: 'live box: exec(["true"])', informational: false, ...withStats(live.argv) },
    {
      id: 'exec-shell',
      name: "live box: exec('true') via sh -c",
      informational: true,
      ...withStats(live.shell),
    },
  );
  const gvisorMissing = await gvisorUnavailable();
  if (gvisorMissing) {
    progress(`gvisor rows skipped: ${gvisorMissing}`);
  } else {
    progress('gvisor rows');
    rows.push(...(await measureGvisor(library, `${root}/bin/ironclaw.cjs`, counts)));
  }
  const qemuMissing = await qemuUnavailable();
  if (qemuMissing) {
    progress(`qemu rows skipped: ${qemuMissing}`);
  } else {
    progress('qemu rows');
    rows.push(...(await measureQemu(library, counts, progress)));
  }
  rows.push(...(await measureEgress(library, root, counts, progress)));
  rows.push(...(await measureExtra(library, counts, progress)));
  return rows;
}

async function main() {
  const interrupt = new AbortController();
  process.once('SIGINT', () =>
    interrupt.abort(new Error('interrupted (Ctrl-C); boxes cleaned up')),
  );
  /** @type {Plan} */
  const counts = { runs: runsFromEnv(), warmup: WARMUP, signal: interrupt.signal };
  const started = new Date();
  await mkdir(RESULTS, { recursive: true });
  const [host, source, snapshot] = await Promise.all([
    hostFacts(),
    sourceFacts(),
    snapshotPackage(RESULTS),
  ]);
  progress(
    `${counts.runs} runs per row after ${counts.warmup} warm-up runs; ${host.cpus} cpus, load ${host.loadAverage.map((n) => n.toFixed(2)).join(' ')}`,
  );
  /** @type {import('./report.mjs').Row[]} */
  let rows;
  try {
    rows = await measureAll(counts, snapshot.root);
  } finally {
    await snapshot.remove();
  }

  const targets = [...(onlyGroups() ? [] : evaluateTargets(rows)), ...extraTargets(rows)];
  process.stdout.write(`\n${formatTable(rows, targets)}\n\n`);
  const cold = targets.find((target) => target.row === 'cli');
  if (cold) process.stdout.write(`${formatColdRatio(rows, cold)}\n`);
  const srt = formatSrtComparison(rows);
  if (!onlyGroups())
    process.stdout.write(
      `${srt ?? "egress vs srt: not measured (srt's proxy could not be had; see above)"}\n`,
    );
  for (const row of rows) {
    if (row.failures?.length) {
      process.stdout.write(
        `WARNING: ${row.name}: ${row.failures.length} run(s) failed and were re-run (${[...new Set(row.failures)].join(', ')})\n`,
      );
    }
  }
  const missed = targets.filter((target) => !target.pass);
  process.stdout.write(
    missed.length === 0
      ? 'all targets met\n'
      : `MISS: ${missed.length} of ${targets.length} targets missed: ${missed.map((target) => target.description).join('; ')}\n`,
  );
  for (const line of formatOutOfReach(targets)) process.stdout.write(`${line}\n`);

  const written = await writeResult(RESULTS, {
    date: started.toISOString(),
    durationMs: Date.now() - started.getTime(),
    node: process.version,
    host,
    source: { ...source, buildDigest: snapshot.digest },
    config: { runs: counts.runs, warmup: counts.warmup },
    rows,
    targets,
  });
  process.stdout.write(`results: ${written.join(', ')}\n`);
}

try {
  await main();
} catch (error) {
  process.stderr.write(
    `bench: failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  if (error instanceof Error && error.cause)
    process.stderr.write(`  cause: ${String(error.cause)}\n`);
  process.exitCode = 1;
}
