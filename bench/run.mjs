// IronClaw benchmark: `npm run bench` (builds first). BENCH_RUNS sets the measured runs per row
// (default 50); 3 warm-up runs per row come first and are not counted. BENCH_ONLY, a comma list
// of groups (process, peers, api, mcp, gvisor, qemu, egress, floor, density, restore), measures
// only those. Prints a table, then
// writes bench/results/latest.json and a timestamped copy. Exits 0 when a target is missed:
// this is a report, not a test. A row that cannot run at all is an error (exit 1).
import { mkdir } from 'node:fs/promises';
import { URL, pathToFileURL } from 'node:url';
import { measureColdApi, measureLiveExec, measureWarmPool } from './api-rows.mjs';
import { formatSrtComparison, measureEgress } from './egress-rows.mjs';
import { gvisorUnavailable, measureGvisor } from './gvisor-rows.mjs';
import { measureQemu, qemuUnavailable } from './qemu-rows.mjs';
import { EXTRA_GROUPS, extraTargets, measureExtra } from './extra-rows.mjs';
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
import { formatPeers, formatSpread, mcpTargets } from './mcp-report.mjs';
import { measureMcpRun } from './mcp-rows.mjs';
import { peerRows } from './peer-rows.mjs';
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

const GROUPS = ['process', 'peers', 'api', 'mcp', 'gvisor', 'qemu', 'egress', ...EXTRA_GROUPS];

/** The groups of rows to measure: BENCH_ONLY's, or all. */
function groupsFromEnv() {
  const text = process.env.BENCH_ONLY;
  if (text === undefined || text === '') return new Set(GROUPS);
  const asked = text.split(',').map((name) => name.trim());
  const unknown = asked.filter((name) => !GROUPS.includes(name));
  if (unknown.length > 0)
    throw new Error(
      `BENCH_ONLY names unknown groups ${unknown.join(', ')}; known: ${GROUPS.join(', ')}`,
    );
  return new Set(asked);
}

/** Peers that could not be measured, and why (filled by measureAll). */
/** @type {{ id: string, name: string, reason: string }[]} */
const missingPeers = [];

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

  /** @type {import('./report.mjs').Row[]} */
  const rows = [];
  const groups = groupsFromEnv();
  const cli = `${root}/bin/ironclaw.cjs`;
  // The peers run interleaved with the CLI rows, so the ratios between them share the noise.
  const peers = groups.has('peers') ? await peerRows(progress) : { rows: [], missing: [] };
  missingPeers.push(...peers.missing);
  const spawned = [
    ...(groups.has('process') || groups.has('mcp') || groups.has('peers')
      ? await processRows(cli)
      : []),
    ...peers.rows,
  ];
  progress(`process rows, interleaved: ${spawned.map((row) => row.id).join(', ')}`);
  const spawnedResults = await measureInterleaved(spawned, counts);
  spawned.forEach((row, index) => {
    const { samples, failures } = spawnedResults[index] ?? { samples: [], failures: [] };
    rows.push({ ...row, samples, stats: summarize(samples), failures });
  });

  if (groups.has('mcp')) {
    progress('MCP run through the SDK client: back-to-back, then one per 200 ms');
    const mcp = await measureMcpRun(cli, counts);
    progress('MCP run with limits of its own (--pids 256)');
    const limited = await measureMcpRun(cli, counts, { args: { pids: 256 }, paced: false });
    // `env` (even empty) takes the sandbox path, with its guest agent: how `run` went before
    // primed boxes, measured in the same run.
    progress('MCP run through a sandbox and its guest agent (env: {})');
    const agent = await measureMcpRun(cli, counts, { args: { env: {} } });
    const agentLimited = await measureMcpRun(cli, counts, {
      args: { pids: 256, env: {} },
      paced: false,
    });
    rows.push(
      {
        id: 'mcp-run',
        name: 'MCP run "true", back-to-back (SDK client, stdio)',
        informational: false,
        ...withStats({ total: mcp.backToBack, parts: {} }),
      },
      {
        id: 'mcp-run-paced',
        name: 'MCP run "true", one per 200 ms',
        informational: false,
        ...withStats({ total: mcp.paced, parts: {} }),
      },
      {
        id: 'mcp-run-agent',
        name: 'MCP run "true" through a sandbox (env {}), back-to-back',
        informational: true,
        ...withStats({ total: agent.backToBack, parts: {} }),
      },
      {
        id: 'mcp-run-agent-paced',
        name: 'MCP run "true" through a sandbox (env {}), one per 200 ms',
        informational: true,
        ...withStats({ total: agent.paced, parts: {} }),
      },
      {
        id: 'mcp-run-limits-agent',
        name: 'MCP run "true" with pids 256 through a sandbox (env {}), back-to-back',
        informational: true,
        ...withStats({ total: agentLimited.backToBack, parts: {} }),
      },
      {
        id: 'mcp-run-limits',
        name: 'MCP run "true" with pids 256, back-to-back',
        informational: true,
        ...withStats({ total: limited.backToBack, parts: {} }),
      },
    );
  }
  if (!groups.has('api')) return rows.concat(await optionalRows(library, root, counts, groups));
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
  return rows.concat(await optionalRows(library, root, counts, groups));
}

/**
 * The gVisor, QEMU and egress rows, those BENCH_ONLY asks for.
 * @param {import('./api-rows.mjs').Library} library @param {string} root
 * @param {Plan} counts @param {Set<string>} groups
 * @returns {Promise<import('./report.mjs').Row[]>}
 */
async function optionalRows(library, root, counts, groups) {
  /** @type {import('./report.mjs').Row[]} */
  const rows = [];
  const gvisorMissing = groups.has('gvisor') ? await gvisorUnavailable() : 'not in BENCH_ONLY';
  if (gvisorMissing) {
    progress(`gvisor rows skipped: ${gvisorMissing}`);
  } else {
    progress('gvisor rows');
    rows.push(...(await measureGvisor(library, `${root}/bin/ironclaw.cjs`, counts)));
  }
  const qemuMissing = groups.has('qemu') ? await qemuUnavailable() : 'not in BENCH_ONLY';
  if (qemuMissing) {
    progress(`qemu rows skipped: ${qemuMissing}`);
  } else {
    progress('qemu rows');
    rows.push(...(await measureQemu(library, counts, progress)));
  }
  if (groups.has('egress')) rows.push(...(await measureEgress(library, root, counts, progress)));
  rows.push(...(await measureExtra(library, counts, progress, groups)));
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

  const targets = [...evaluateTargets(rows), ...mcpTargets(rows), ...extraTargets(rows)];
  process.stdout.write(`\n${formatTable(rows, targets)}\n\n`);
  const cold = targets.find((target) => target.row === 'cli');
  if (cold) process.stdout.write(`${formatColdRatio(rows, cold)}\n`);
  for (const line of [...formatSpread(rows), ...formatPeers(rows, missingPeers)])
    process.stdout.write(`${line}\n`);
  const srt = formatSrtComparison(rows);
  if (groupsFromEnv().has('egress'))
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
