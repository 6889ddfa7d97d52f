// The row groups of issue 18 items 3-5 (live exec against its in-box floor, per driver; density;
// QEMU restore taken apart),
// kept apart from run.mjs so each group is one file. BENCH_ONLY=floor,density,restore runs only the
// named groups (and evaluates only their targets), for a quick look at one part.
import { densityTargets, measureDensity } from './density-rows.mjs';
import { floorTargets, measureFloors } from './floor-rows.mjs';
import { measureRestore, restoreTargets } from './restore-rows.mjs';

const GROUPS = {
  floor: measureFloors,
  density: measureDensity,
  restore: measureRestore,
};

/** @returns {string[] | undefined} the groups BENCH_ONLY names, or undefined for all */
export function onlyGroups() {
  const text = process.env.BENCH_ONLY;
  if (text === undefined || text === '') return undefined;
  const names = text.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !(name in GROUPS));
  if (unknown.length > 0)
    throw new Error(
      `BENCH_ONLY names ${unknown.join(', ')}; the groups it can pick are: ${Object.keys(GROUPS).join(', ')}`,
    );
  return names;
}

/**
 * @param {import('./api-rows.mjs').Library} library
 * @param {import('./run.mjs').Plan} counts
 * @param {(message: string) => void} progress
 * @param {string[]} [only] the groups to run (default: all)
 * @returns {Promise<import('./report.mjs').Row[]>}
 */
export async function measureExtra(library, counts, progress, only = Object.keys(GROUPS)) {
  const rows = [];
  for (const [name, measure] of Object.entries(GROUPS)) {
    if (only.includes(name)) rows.push(...(await measure(library, counts, progress)));
  }
  return rows;
}

/** @param {import('./report.mjs').Row[]} rows @returns {import('./report.mjs').Target[]} */
export function extraTargets(rows) {
  return [...floorTargets(rows), ...densityTargets(rows), ...restoreTargets(rows)];
}
