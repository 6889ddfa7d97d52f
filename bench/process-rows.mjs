// Rows timed as whole processes, spawn to exit: the two baselines and the cold one-shot CLI.
import { chmod } from 'node:fs/promises';
import { dirname } from 'node:path';
import { timeSpawn } from './spawn-timer.mjs';
import { usrSymlinkArgs } from './host-facts.mjs';

/** A failed run is retried (and recorded) this many times before the row is given up on. */
const MAX_ATTEMPTS = 5;

/**
 * @param {string} cli path of bin/ironclaw.cjs to run
 * @returns {Promise<{ id: string, name: string, informational: boolean, command: string[] }[]>}
 */
export async function processRows(cli) {
  // As root a plain `ironclaw exec` hands its process over to the box only if the box's uid
  // can read the package, as it can an installed one; the private copy being measured is 0700.
  if (process.getuid?.() === 0) await chmod(dirname(dirname(cli)), 0o755);
  const node = process.execPath;
  const bwrap = [
    'bwrap',
    '--unshare-all',
    '--ro-bind',
    '/usr',
    '/usr',
    ...(await usrSymlinkArgs()),
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    '--die-with-parent',
    '--new-session',
    '/bin/true',
  ];
  return [
    { id: 'node', name: 'baseline: node -e 0', informational: false, command: [node, '-e', '0'] },
    { id: 'bwrap', name: 'baseline: raw bwrap /bin/true', informational: false, command: bwrap },
    {
      id: 'cli',
      name: 'cold: ironclaw exec -- true',
      informational: false,
      command: [node, cli, 'exec', '--', 'true'],
    },
    {
      id: 'cli-supervised',
      name: 'cold: ironclaw exec --timeout 1h -- true (supervised)',
      informational: true,
      command: [node, cli, 'exec', '--timeout', '1h', '--', 'true'],
    },
    {
      id: 'cli-pids',
      name: 'cold: ironclaw exec --pids 256 -- true',
      informational: true,
      command: [node, cli, 'exec', '--pids', '256', '--', 'true'],
    },
  ];
}

/**
 * Runs every row once per round, round-robin, so a burst of background load on this shared
 * machine lands on all rows alike instead of on whichever row happened to run during it; the
 * first row of each round rotates too, so no row always follows the same neighbour. The cold
 * target is a ratio against the baselines, which is only fair if they share the same noise.
 *
 * A run that exits non-zero is not a sample of the thing measured: it is recorded as a
 * failure and run again, and the report shows how many there were.
 * @param {{ id: string, command: string[] }[]} rows
 * @param {import('./run.mjs').Plan} counts
 * @returns {Promise<{ samples: number[], failures: string[] }[]>} per row, in row order
 */
export async function measureInterleaved(rows, counts) {
  const results = rows.map(() => ({
    samples: /** @type {number[]} */ ([]),
    failures: /** @type {string[]} */ ([]),
  }));
  for (let round = 0; round < counts.warmup + counts.runs; round++) {
    counts.signal.throwIfAborted();
    for (let step = 0; step < rows.length; step++) {
      const index = (round + step) % rows.length;
      const row = /** @type {{ id: string, command: string[] }} */ (rows[index]);
      const result = /** @type {{ samples: number[], failures: string[] }} */ (results[index]);
      const [file, ...args] = row.command;
      for (let attempt = 1; ; attempt++) {
        const run = await timeSpawn(/** @type {string} */ (file), args);
        if (run.ok) {
          if (round >= counts.warmup) result.samples.push(run.ms);
          break;
        }
        result.failures.push(run.status);
        if (attempt === MAX_ATTEMPTS) {
          throw new Error(
            `${row.command.join(' ')} failed ${MAX_ATTEMPTS} times in a row (last: ${run.status}); run it by hand to see its output`,
          );
        }
      }
    }
  }
  return results;
}
