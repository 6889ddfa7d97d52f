// IronClaw benchmark: `npm run bench` (builds first). BENCH_RUNS sets the measured runs per row
// (default 50); 3 warm-up runs per row come first and are not counted. Prints a table, then
// writes bench/results/latest.json and a timestamped copy. Exits 0 when a target is missed:
// this is a report, not a test. A row that cannot run at all is an error (exit 1).
import { measureColdApi, measureLiveExec, measureWarmPool } from './api-rows.mjs';
import { hostFacts } from './host-facts.mjs';
import { measureInterleaved, processRows } from './process-rows.mjs';
import { evaluateTargets, formatColdRatio, formatTable, writeResult } from './report.mjs';
import { summarize } from './stats.mjs';

const WARMUP = 3;
const RESULTS = new URL('./results/', import.meta.url);

function runsFromEnv() {
  const text = process.env.BENCH_RUNS ?? '50';
  const runs = Number(text);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`BENCH_RUNS must be a positive integer, got ${JSON.stringify(text)}`);
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
  const parts = Object.entries(timings.parts).map(([name, samples]) => [name, { samples, stats: summarize(samples) }]);
  return {
    samples: timings.total,
    stats: summarize(timings.total),
    ...(parts.length > 0 ? { parts: Object.fromEntries(parts) } : {}),
  };
}

async function main() {
  const counts = { runs: runsFromEnv(), warmup: WARMUP };
  const started = new Date();
  const host = await hostFacts();
  progress(`${counts.runs} runs per row after ${counts.warmup} warm-up runs; ${host.cpus} cpus, load ${host.loadAverage.map((n) => n.toFixed(2)).join(' ')}`);

  /** @type {import('./report.mjs').Row[]} */
  const rows = [];
  const spawned = await processRows();
  progress(`process rows, interleaved: ${spawned.map((row) => row.id).join(', ')}`);
  const spawnedSamples = await measureInterleaved(spawned, counts);
  spawned.forEach((row, index) => {
    const samples = spawnedSamples[index] ?? [];
    rows.push({ ...row, samples, stats: summarize(samples) });
  });

  progress('warm pool: acquire + first exec');
  const pool = await measureWarmPool(counts);
  progress('cold API: createSandbox + first exec');
  const coldApi = await measureColdApi(counts);
  progress('live exec round trips');
  const live = await measureLiveExec(counts);
  rows.push(
    { id: 'pool', name: 'warm pool: acquire + exec(["true"])', informational: false, ...withStats(pool) },
    { id: 'api-cold', name: 'cold API: createSandbox + exec(["true"])', informational: true, ...withStats(coldApi) },
    { id: 'exec', name: 'live box: exec(["true"])', informational: false, ...withStats(live.argv) },
    { id: 'exec-shell', name: "live box: exec('true') via sh -c", informational: true, ...withStats(live.shell) },
  );

  const targets = evaluateTargets(rows);
  process.stdout.write(`\n${formatTable(rows, targets)}\n\n`);
  const cold = targets.find((target) => target.row === 'cli');
  if (cold) process.stdout.write(`${formatColdRatio(rows, cold)}\n`);
  const missed = targets.filter((target) => !target.pass);
  process.stdout.write(
    missed.length === 0
      ? 'all targets met\n'
      : `MISS: ${missed.length} of ${targets.length} targets missed: ${missed.map((target) => target.description).join('; ')}\n`,
  );

  const written = await writeResult(RESULTS, {
    date: started.toISOString(),
    durationMs: Date.now() - started.getTime(),
    node: process.version,
    host,
    config: counts,
    rows,
    targets,
  });
  process.stdout.write(`results: ${written.join(', ')}\n`);
}

try {
  await main();
} catch (error) {
  process.stderr.write(`bench: failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  if (error instanceof Error && error.cause) process.stderr.write(`  cause: ${String(error.cause)}\n`);
  process.exitCode = 1;
}
