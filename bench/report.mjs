// Targets, the printed table and the JSON result file. Every pass/miss is computed here from
// the measured rows; no number in the report is typed in by hand.
import { mkdir, writeFile } from 'node:fs/promises';
import { URL } from 'node:url';
import { round } from './stats.mjs';

/** How much slower than node start-up plus a bare bwrap box a one-shot run may be. */
export const COLD_RATIO_LIMIT = 1.3;

/** How much slower than a raw QEMU boot of the same VM a cold create -> first result may be. */
const QEMU_RATIO_LIMIT = 1.15;

/** How much slower than a raw `runsc do true` a gVisor create -> first result may be. */
const GVISOR_RATIO_LIMIT = 1.2;

/** What the egress proxy may add to a loopback request (issue 14). */
const EGRESS_ADDED_MS = 1;
/** The least share of direct loopback throughput a download through the proxy must reach. */
const EGRESS_BULK_SHARE = 0.8;
/** How much slower a box with --allow-net (its proxy, the bridge) may start than one without. */
const EGRESS_START_RATIO = 1.2;

/**
 * @typedef {{ id: string, name: string, informational: boolean, samples: number[],
 *   stats: import('./stats.mjs').Stats, parts?: Record<string, { samples: number[], stats: import('./stats.mjs').Stats }>,
 *   command?: string[], failures?: string[], unit?: string }} Row (unit: not milliseconds)
 * @typedef {{ row: string, description: string, limitMs: number, actualMs: number, ratio?: number, pass: boolean,
 *   floorMs?: number, atLeast?: boolean }} Target (floorMs: p50 of the cheapest process start inside the same
 *   box; atLeast: the limit is a floor, in the row's unit, as for a throughput)
 */

/** @param {Row[]} rows @returns {Target[]} */
export function evaluateTargets(rows) {
  const p50 = (/** @type {string} */ id) => {
    const row = rows.find((candidate) => candidate.id === id);
    if (!row) throw new Error(`no row ${id} to evaluate a target on`);
    return row.stats.p50;
  };
  const absolute = (
    /** @type {string} */ row,
    /** @type {number} */ limitMs,
    /** @type {string} */ what,
    /** @type {string | undefined} */ floorRow = undefined,
  ) => {
    const actualMs = p50(row);
    const floor = rows.find((candidate) => candidate.id === floorRow);
    return {
      row,
      description: `${what} p50 <= ${limitMs} ms`,
      limitMs,
      actualMs,
      pass: actualMs <= limitMs,
      ...(floor ? { floorMs: floor.stats.p50 } : {}),
    };
  };
  // BENCH_ONLY may leave rows out: a target is evaluated only where its rows were measured.
  const has = (/** @type {string[]} */ ...ids) =>
    ids.every((id) => rows.some((row) => row.id === id));
  const gvisor = rows.some((row) => row.id === 'runsc')
    ? [
        absolute('gvisor-exec', 5, 'gvisor live exec round trip', 'gvisor-floor'),
        {
          row: 'gvisor-once',
          description: `gvisor create -> first result p50 <= ${GVISOR_RATIO_LIMIT} x p50 raw runsc do true`,
          limitMs: GVISOR_RATIO_LIMIT * p50('runsc'),
          actualMs: p50('gvisor-once'),
          ratio: p50('gvisor-once') / p50('runsc'),
          pass: p50('gvisor-once') <= GVISOR_RATIO_LIMIT * p50('runsc'),
        },
      ]
    : [];
  const qemu = rows.some((row) => row.id === 'qemu-raw-agent')
    ? [
        {
          row: 'qemu-cold',
          description: `qemu cold create -> first result p50 <= ${QEMU_RATIO_LIMIT} x p50 raw QEMU boot to the agent's first byte`,
          limitMs: QEMU_RATIO_LIMIT * p50('qemu-raw-agent'),
          actualMs: p50('qemu-cold'),
          ratio: p50('qemu-cold') / p50('qemu-raw-agent'),
          pass: p50('qemu-cold') <= QEMU_RATIO_LIMIT * p50('qemu-raw-agent'),
        },
        absolute('qemu-restore', 100, 'qemu template restore -> first result'),
        absolute('qemu-pool', 15, 'qemu warm pool of restored VMs -> first result', 'qemu-floor'),
      ]
    : [];
  const coldTarget = () => {
    const baseline = p50('node') + p50('bwrap');
    const cold = p50('cli');
    return {
      row: 'cli',
      description: `cold ironclaw exec p50 <= ${COLD_RATIO_LIMIT} x (p50 node -e 0 + p50 raw bwrap)`,
      limitMs: COLD_RATIO_LIMIT * baseline,
      actualMs: cold,
      ratio: cold / baseline,
      pass: cold <= COLD_RATIO_LIMIT * baseline,
    };
  };
  return [
    ...(has('exec') ? [absolute('exec', 3, 'live exec round trip')] : []),
    ...(has('pool') ? [absolute('pool', 10, 'warm-pool create -> first result')] : []),
    ...(has('cli', 'node', 'bwrap') ? [coldTarget()] : []),
    ...gvisor,
    ...qemu,
    ...egressTargets(rows),
  ];
}

/**
 * The egress targets (issue 14), when the egress rows ran: each a ratio to a baseline measured
 * in the same run.
 * @param {Row[]} rows @returns {Target[]}
 */
export function egressTargets(rows) {
  const p50 = (/** @type {string} */ id) => {
    const row = rows.find((candidate) => candidate.id === id);
    if (!row) throw new Error(`no row ${id} to evaluate a target on`);
    return row.stats.p50;
  };
  if (!rows.some((row) => row.id === 'egress-proxy')) return [];
  return [
    {
      row: 'egress-proxy',
      description: `request through the egress proxy p50 <= direct p50 + ${EGRESS_ADDED_MS} ms`,
      limitMs: p50('egress-direct') + EGRESS_ADDED_MS,
      actualMs: p50('egress-proxy'),
      pass: p50('egress-proxy') <= p50('egress-direct') + EGRESS_ADDED_MS,
    },
    {
      row: 'egress-bulk-proxy',
      description: `download through the egress proxy p50 >= ${EGRESS_BULK_SHARE} x direct p50`,
      limitMs: EGRESS_BULK_SHARE * p50('egress-bulk-direct'),
      actualMs: p50('egress-bulk-proxy'),
      ratio: p50('egress-bulk-proxy') / p50('egress-bulk-direct'),
      pass: p50('egress-bulk-proxy') >= EGRESS_BULK_SHARE * p50('egress-bulk-direct'),
      atLeast: true,
    },
    {
      row: 'box-start-net',
      description: `box start with --allow-net p50 <= ${EGRESS_START_RATIO} x without`,
      limitMs: EGRESS_START_RATIO * p50('box-start'),
      actualMs: p50('box-start-net'),
      ratio: p50('box-start-net') / p50('box-start'),
      pass: p50('box-start-net') <= EGRESS_START_RATIO * p50('box-start'),
    },
  ];
}

/** @param {Row[]} rows @param {Target[]} targets @returns {string} */
export function formatTable(rows, targets) {
  const ms = (/** @type {number} */ value) => value.toFixed(2);
  const lines = rows.map((row) => {
    const target = targets.find((candidate) => candidate.row === row.id);
    const unit = (/** @type {number} */ value) => `${ms(value)}${row.unit ? ` ${row.unit}` : ''}`;
    return [
      row.name,
      String(row.stats.runs),
      unit(row.stats.p50),
      unit(row.stats.p95),
      unit(row.stats.min),
      target ? `${target.atLeast ? '>=' : '<='} ${ms(target.limitMs)}` : '-',
      target ? (target.pass ? 'pass' : 'MISS') : row.informational ? 'info' : 'baseline',
    ];
  });
  const header = ['name', 'runs', 'p50 ms', 'p95 ms', 'min ms', 'target p50', 'result'];
  const widths = header.map((title, column) =>
    Math.max(title.length, ...lines.map((line) => line[column]?.length ?? 0)),
  );
  const format = (/** @type {string[]} */ cells) =>
    cells
      .map((cell, column) =>
        column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0),
      )
      .join('  ');
  return [
    format(header),
    widths.map((width) => '-'.repeat(width)).join('  '),
    ...lines.map(format),
  ].join('\n');
}

/**
 * Lines for the missed targets that no agent could meet on this machine: the process start
 * measured inside the same box, with no agent or channel, is itself slower than the target.
 * @param {Target[]} targets @returns {string[]}
 */
export function formatOutOfReach(targets) {
  return targets
    .filter(
      (target) => !target.pass && target.floorMs !== undefined && target.floorMs > target.limitMs,
    )
    .map(
      (target) =>
        `out of reach on this platform: ${target.description}: starting /bin/true inside the box, with no agent, takes p50 ${target.floorMs?.toFixed(2)} ms`,
    );
}

/** @param {Row[]} rows @param {Target} target @returns {string} */
export function formatColdRatio(rows, target) {
  const p50 = (/** @type {string} */ id) => rows.find((row) => row.id === id)?.stats.p50 ?? NaN;
  const [node, bwrap, cli] = [p50('node'), p50('bwrap'), p50('cli')].map((value) =>
    value.toFixed(2),
  );
  return (
    `cold one-shot: p50 ${cli} ms / (node ${node} + bwrap ${bwrap} = ${(p50('node') + p50('bwrap')).toFixed(2)} ms)` +
    ` = ${target.ratio?.toFixed(3)}x (target <= ${COLD_RATIO_LIMIT}x): ${target.pass ? 'pass' : 'MISS'}`
  );
}

/**
 * Writes latest.json and a copy named after the run's start time.
 * @param {URL} dir @param {Record<string, unknown> & { date: string }} result
 * @returns {Promise<string[]>} the paths written
 */
export async function writeResult(dir, result) {
  await mkdir(dir, { recursive: true });
  const text = `${JSON.stringify(result, roundNumbers, 2)}\n`;
  const stamped = new URL(`${result.date.replace(/[:.]/g, '-')}.json`, dir);
  const latest = new URL('latest.json', dir);
  await Promise.all([writeFile(stamped, text), writeFile(latest, text)]);
  return [latest.pathname, stamped.pathname];
}

/** JSON replacer: microsecond precision is plenty and keeps the sample arrays readable. */
function roundNumbers(/** @type {string} */ _key, /** @type {unknown} */ value) {
  return typeof value === 'number' && !Number.isInteger(value) ? round(value) : value;
}
