// Live exec against its floor, per driver (issue 18, item 3): the exec round trip through the
// API on a live box next to the in-box floor (box-floor.mjs: posix_spawn of /bin/true timed by
// the box itself, no agent). On a VM every command starts through the python3 seccomp loader
// (protocol/guest-seccomp.ts), so a third row times the same spawn through that loader: the
// part of the gap the filter costs. Firecracker cannot run on this machine; its line says why.
import { processFloor } from './box-floor.mjs';
import { gvisorUnavailable } from './gvisor-rows.mjs';
import { qemuUnavailable } from './qemu-rows.mjs';
import { summarize } from './stats.mjs';

/** Live exec may cost this many times the floor, plus FLOOR_ADDED_MS (issue 18). */
const FLOOR_RATIO = 1.5;
const FLOOR_ADDED_MS = 1;
/** What a VM guest's agent runs in front of every command (protocol/guest-seccomp*.ts). */
const LOADERS = [
  { id: 'native', argv: ['/.ironclaw/seccomp-exec', '0', '/bin/true'] },
  {
    id: 'python',
    argv: ['/usr/bin/python3', '-I', '-S', '/.ironclaw/seccomp-exec.py', '0', '/bin/true'],
  },
];

/** @typedef {{ driver: string, options: Record<string, unknown>, vm: boolean }} Case */

/** @returns {Promise<{ cases: Case[], absent: string[] }>} */
async function driverCases() {
  /** @type {Case[]} */
  const cases = [{ driver: 'bwrap', options: {}, vm: false }];
  const absent = [];
  const gvisor = await gvisorUnavailable();
  if (gvisor) absent.push(`gvisor: ${gvisor}`);
  else cases.push({ driver: 'gvisor', options: { driver: 'gvisor' }, vm: false });
  const qemu = await qemuUnavailable();
  if (qemu) absent.push(`qemu: ${qemu}`);
  // A clone of the template: the same guest and agent as a cold boot, seconds sooner.
  else
    cases.push({ driver: 'qemu', options: { driver: 'qemu', startTimeoutMs: 600_000 }, vm: true });
  return { cases, absent };
}

/**
 * @param {import('./api-rows.mjs').Library} library
 * @param {import('./run.mjs').Plan} counts
 * @param {(message: string) => void} progress
 * @returns {Promise<import('./report.mjs').Row[]>}
 */
export async function measureFloors(library, counts, progress) {
  const { cases, absent } = await driverCases();
  const firecracker = await library
    .createSandbox({ driver: 'firecracker', startTimeoutMs: 60_000 })
    .then(
      async (sandbox) => {
        await sandbox.destroy();
        return 'it started here, but this bench has no firecracker floor row yet';
      },
      (/** @type {Error} */ error) => error.message,
    );
  absent.push(`firecracker: ${firecracker}`);
  for (const line of absent) progress(`floor rows absent: ${line}`);
  /** @type {import('./report.mjs').Row[]} */
  const rows = [];
  for (const { driver, options, vm } of cases) {
    counts.signal.throwIfAborted();
    progress(`floor rows: ${driver}`);
    const sandbox = await library.createSandbox(options);
    try {
      const exec = { total: [], inGuest: [] };
      for (let index = 0; index < counts.warmup + counts.runs; index++) {
        counts.signal.throwIfAborted();
        const started = performance.now();
        const result = await sandbox.exec(['true']);
        const ms = performance.now() - started;
        if (result.exitCode !== 0) throw new Error(`${driver} exec true exited ${result.exitCode}`);
        if (index >= counts.warmup) {
          exec.total.push(ms);
          exec.inGuest.push(result.durationMs);
        }
      }
      const floor = await processFloor(sandbox, counts);
      if ('reason' in floor) throw new Error(`${driver} floor: ${floor.reason}`);
      rows.push(
        sampled(
          `floor-${driver}`,
          `${driver} in-box floor: posix_spawn(/bin/true) + wait, no agent`,
          floor.samples,
        ),
        {
          ...sampled(
            `floor-${driver}-exec`,
            `${driver} live exec(["true"]) through the API`,
            exec.total,
            false,
          ),
          parts: { inGuest: { samples: exec.inGuest, stats: summarize(exec.inGuest) } },
        },
      );
      for (const loader of vm ? LOADERS : []) {
        const floor = await processFloor(sandbox, counts, loader.argv);
        if ('reason' in floor)
          throw new Error(`${driver} ${loader.id} loader floor: ${floor.reason}`);
        rows.push(
          sampled(
            `floor-${driver}-loader-${loader.id}`,
            `${driver} in-box: posix_spawn(${loader.id} seccomp loader -> /bin/true) + wait, no agent`,
            floor.samples,
          ),
        );
      }
    } finally {
      await sandbox.destroy();
    }
  }
  return rows;
}

/** @param {string} id @param {string} name @param {number[]} samples @param {boolean} [informational] */
function sampled(id, name, samples, informational = true) {
  return { id, name, informational, samples, stats: summarize(samples) };
}

/**
 * exec p50 <= FLOOR_RATIO x floor p50 + FLOOR_ADDED_MS, per driver measured.
 * @param {import('./report.mjs').Row[]} rows @returns {import('./report.mjs').Target[]}
 */
export function floorTargets(rows) {
  return rows
    .filter((row) => /^floor-[a-z]+$/.test(row.id))
    .flatMap((floor) => {
      const exec = rows.find((row) => row.id === `${floor.id}-exec`);
      if (!exec) return [];
      const limitMs = FLOOR_RATIO * floor.stats.p50 + FLOOR_ADDED_MS;
      return [
        {
          row: exec.id,
          description: `${floor.id.slice('floor-'.length)} live exec p50 <= ${FLOOR_RATIO} x in-box floor p50 + ${FLOOR_ADDED_MS} ms`,
          limitMs,
          actualMs: exec.stats.p50,
          ratio: exec.stats.p50 / floor.stats.p50,
          pass: exec.stats.p50 <= limitMs,
          floorMs: floor.stats.p50,
        },
      ];
    });
}
