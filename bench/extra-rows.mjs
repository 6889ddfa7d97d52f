// The row groups of issue 18 items 3-5 (live exec against its in-box floor, per driver; density;
// QEMU restore taken apart),
// kept apart from run.mjs so each group is one file. BENCH_ONLY (see run.mjs) can name them.
import { densityTargets, measureDensity } from './density-rows.mjs';
import { floorTargets, measureFloors } from './floor-rows.mjs';
import { measureRestore, restoreTargets } from './restore-rows.mjs';

const GROUPS = {
  floor: measureFloors,
  density: measureDensity,
  restore: measureRestore,
};

/** The names of these groups, for BENCH_ONLY. */
export const EXTRA_GROUPS = Object.keys(GROUPS);

/**
 * @param {import('./api-rows.mjs').Library} library
 * @param {import('./run.mjs').Plan} counts
 * @param {(message: string) => void} progress
 * @param {Set<string>} only the groups to run
 * @returns {Promise<import('./report.mjs').Row[]>}
 */
export async function measureExtra(library, counts, progress, only) {
  const rows = [];
  for (const [name, measure] of Object.entries(GROUPS)) {
    if (only.has(name)) rows.push(...(await measure(library, counts, progress)));
  }
  return rows;
}

/** @param {import('./report.mjs').Row[]} rows @returns {import('./report.mjs').Target[]} */
export function extraTargets(rows) {
  return [...floorTargets(rows), ...densityTargets(rows), ...restoreTargets(rows)];
}
