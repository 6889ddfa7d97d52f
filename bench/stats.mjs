// Summary statistics of one row of timings. Percentiles interpolate linearly between the two
// nearest ranks (numpy's default), so p50 of an even count is the midpoint of the middle pair.
import { setTimeout as delay } from 'node:timers/promises';

/** @typedef {{ runs: number, p50: number, p95: number, min: number, max: number, mean: number }} Stats */

/**
 * @param {readonly number[]} sorted ascending, non-empty
 * @param {number} q quantile in [0, 1]
 */
export function quantile(sorted, q) {
  if (sorted.length === 0) throw new Error('quantile of no samples');
  const position = (sorted.length - 1) * q;
  const below = Math.floor(position);
  const above = Math.ceil(position);
  const low = /** @type {number} */ (sorted[below]);
  const high = /** @type {number} */ (sorted[above]);
  return low + (high - low) * (position - below);
}

/**
 * @param {readonly number[]} samples milliseconds, in the order they were taken
 * @returns {Stats}
 */
export function summarize(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    runs: sorted.length,
    p50: quantile(sorted, 0.5),
    p95: quantile(sorted, 0.95),
    min: /** @type {number} */ (sorted[0]),
    max: /** @type {number} */ (sorted[sorted.length - 1]),
    mean: sorted.reduce((sum, value) => sum + value, 0) / sorted.length,
  };
}

/** Rounds for display and JSON: sub-millisecond detail matters for the live exec row. */
export function round(ms, digits = 3) {
  const scale = 10 ** digits;
  return Math.round(ms * scale) / scale;
}

/**
 * A result row of the report.
 * @param {string} id @param {string} name @param {boolean} informational @param {number[]} samples
 */
export function row(id, name, informational, samples) {
  return { id, name, informational, samples, stats: summarize(samples) };
}

/**
 * Times `run` warm-up + runs times, one after another (or each after `pauseMs` of idleness, not
 * timed), and keeps the timed runs.
 * @param {{ runs: number, warmup: number, signal: AbortSignal }} counts
 * @param {() => Promise<unknown>} run @param {number} [pauseMs]
 */
export async function repeat(counts, run, pauseMs = 0) {
  const samples = [];
  for (let index = 0; index < counts.warmup + counts.runs; index++) {
    counts.signal.throwIfAborted();
    if (pauseMs > 0) await delay(pauseMs);
    const started = performance.now();
    await run();
    if (index >= counts.warmup) samples.push(performance.now() - started);
  }
  return samples;
}
