// Issue 18's targets for MCP `run`, the run-to-run spread of each ratio and target, and the
// peers' ratios. Every number is computed from the measured rows.
import { summarize } from './stats.mjs';

/** Back-to-back MCP `run`: p50 at most this, and at most RAW_FACTOR x raw bwrap + RAW_ADDED_MS. */
const MCP_RUN_MS = 10;
const RAW_FACTOR = 2;
const RAW_ADDED_MS = 3;
/** MCP `run` one call per 200 ms. */
const MCP_PACED_MS = 6;

/** How many consecutive blocks of a row's samples the spread is taken over. */
const BLOCKS = 3;

/**
 * @param {import('./report.mjs').Row[]} rows
 * @returns {import('./report.mjs').Target[]}
 */
export function mcpTargets(rows) {
  const p50 = (/** @type {string} */ id) => rows.find((row) => row.id === id)?.stats.p50;
  const run = p50('mcp-run');
  const paced = p50('mcp-run-paced');
  const bwrap = p50('bwrap');
  /** @type {import('./report.mjs').Target[]} */
  const targets = [];
  if (run !== undefined) {
    const limitMs = Math.min(
      MCP_RUN_MS,
      bwrap === undefined ? Infinity : RAW_FACTOR * bwrap + RAW_ADDED_MS,
    );
    targets.push({
      row: 'mcp-run',
      description: `MCP run back-to-back p50 <= ${MCP_RUN_MS} ms${bwrap === undefined ? '' : ` and <= ${RAW_FACTOR} x raw bwrap + ${RAW_ADDED_MS} ms`}`,
      limitMs,
      actualMs: run,
      ...(bwrap === undefined ? {} : { ratio: run / bwrap }),
      pass: run <= limitMs,
    });
  }
  if (paced !== undefined)
    targets.push({
      row: 'mcp-run-paced',
      description: `MCP run one call per 200 ms p50 <= ${MCP_PACED_MS} ms`,
      limitMs: MCP_PACED_MS,
      actualMs: paced,
      pass: paced <= MCP_PACED_MS,
    });
  return targets;
}

/**
 * The spread of each round-1 and MCP figure over three runs: each row's samples are split into
 * three consecutive blocks (the process rows are interleaved round by round, so a block of
 * rounds is a run of its own, with the baselines measured beside it) and the figure is computed
 * per block. Lines of "min - max".
 * @param {import('./report.mjs').Row[]} rows @returns {string[]}
 */
export function formatSpread(rows) {
  const blocks = (/** @type {string} */ id) => {
    const samples = rows.find((row) => row.id === id)?.samples;
    if (!samples || samples.length < BLOCKS) return undefined;
    const size = Math.floor(samples.length / BLOCKS);
    return Array.from({ length: BLOCKS }, (_, index) =>
      summarize(samples.slice(index * size, (index + 1) * size)),
    ).map((stats) => stats.p50);
  };
  /** @type {[string, number[] | undefined, string][]} */
  const figures = [];
  const [node, bwrap, cli] = [blocks('node'), blocks('bwrap'), blocks('cli')];
  if (node && bwrap && cli)
    figures.push([
      'cold ironclaw exec / (node + bwrap)',
      cli.map((value, index) => value / ((node[index] ?? NaN) + (bwrap[index] ?? NaN))),
      'x',
    ]);
  for (const [id, what] of [
    ['pool', 'warm pool p50'],
    ['exec', 'live bwrap exec p50'],
    ['mcp-run', 'MCP run back-to-back p50'],
    ['mcp-run-paced', 'MCP run paced p50'],
  ])
    figures.push([what, blocks(id), ' ms']);
  const mcp = blocks('mcp-run');
  if (mcp && bwrap)
    figures.push([
      'MCP run back-to-back / raw bwrap',
      mcp.map((value, index) => value / (bwrap[index] ?? NaN)),
      'x',
    ]);
  return figures
    .filter(([, values]) => values !== undefined)
    .map(([what, values]) => {
      const list = /** @type {number[]} */ (values);
      const unit = figures.find(([name]) => name === what)?.[2] ?? '';
      return `spread over ${BLOCKS} runs: ${what}: ${Math.min(...list).toFixed(2)}${unit} - ${Math.max(...list).toFixed(2)}${unit} (${list.map((value) => value.toFixed(2)).join(', ')})`;
    });
}

/**
 * IronClaw's one-shot (`ironclaw exec -- true`) and MCP `run` against each peer, as ratios of
 * p50 (below 1: IronClaw is faster), and why a peer has no row.
 * @param {import('./report.mjs').Row[]} rows
 * @param {{ name: string, reason: string }[]} missing
 * @returns {string[]}
 */
export function formatPeers(rows, missing) {
  const p50 = (/** @type {string} */ id) => rows.find((row) => row.id === id)?.stats.p50;
  const lines = [];
  for (const peer of ['peer-srt', 'peer-codex']) {
    const row = rows.find((candidate) => candidate.id === peer);
    if (!row) continue;
    const parts = [
      ['ironclaw exec -- true', p50('cli')],
      ['MCP run back-to-back', p50('mcp-run')],
      ['MCP run paced', p50('mcp-run-paced')],
    ]
      .filter(([, value]) => value !== undefined)
      .map(
        ([what, value]) => `${what} ${/** @type {number} */ (value / row.stats.p50).toFixed(3)}x`,
      );
    lines.push(`vs ${row.name} (p50 ${row.stats.p50.toFixed(2)} ms): ${parts.join(', ')}`);
  }
  for (const peer of missing) lines.push(`no row for ${peer.name}: ${peer.reason}`);
  return lines;
}
