// MCP `run` as an agent sees it: the real `ironclaw mcp` server over stdio, driven by the
// official SDK client, one `run` of `command: "true"` after another. Back-to-back calls show
// what a burst costs (the warm pool drains); calls one every 200 ms show a pool that has had
// time to refill. Timed from callTool to its answer, so the JSON-RPC round trip is included.
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { repeat } from './stats.mjs';

/** The pause before each paced call: one call per 200 ms, as issue 18 measures it. */
const PACE_MS = 200;

/**
 * @param {string} cli path of bin/ironclaw.cjs to run
 * @param {import('./run.mjs').Plan} counts
 * @param {{ args?: Record<string, unknown>, paced?: boolean }} [options] extra `run` arguments
 *   (limits of its own, files); paced: false measures back-to-back only
 * @returns {Promise<{ backToBack: number[], paced: number[] }>}
 */
export async function measureMcpRun(cli, counts, options = {}) {
  const args = options.args ?? {};
  let stderr = '';
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [cli, 'mcp'],
    env: /** @type {Record<string, string>} */ ({ ...process.env }),
    stderr: 'pipe',
  });
  transport.stderr?.on('data', (/** @type {Buffer} */ chunk) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const client = new Client({ name: 'ironclaw-bench', version: '1.0.0' });
  await client.connect(transport);
  try {
    const run = async () => {
      const result = await client.callTool({
        name: 'run',
        arguments: { command: 'true', ...args },
      });
      const data = /** @type {{ exitCode?: number } | undefined} */ (result.structuredContent);
      if (result.isError || data?.exitCode !== 0)
        throw new Error(
          `MCP run failed: ${JSON.stringify(result.content).slice(0, 400)}; server stderr: ${stderr}`,
        );
    };
    // The server fills its pool in the background from start-up; the warm-up calls wait for
    // nothing in particular, so the back-to-back row starts as a client that just connected.
    const backToBack = await repeat(counts, run);
    const paced = options.paced === false ? [] : await repeat(counts, run, PACE_MS);
    return { backToBack, paced };
  } finally {
    await client.close();
  }
}

/**
 * `node bench/mcp-rows.mjs [runs]`: the two rows alone, against the built package, for a quick
 * look while working on the `run` path (the full report is `npm run bench`).
 */
if (import.meta.url === `file://${process.argv[1]}`) {
  const { summarize } = await import('./stats.mjs');
  const runs = Number(process.argv[2] ?? '30');
  const counts = { runs, warmup: 3, signal: new AbortController().signal };
  const cli = new URL('../bin/ironclaw.cjs', import.meta.url).pathname;
  const result = await measureMcpRun(cli, counts);
  for (const [name, samples] of Object.entries(result)) {
    const stats = summarize(samples);
    process.stdout.write(
      `${name}: p50 ${stats.p50.toFixed(2)} ms, p95 ${stats.p95.toFixed(2)} ms (${stats.runs} runs)\n`,
    );
  }
}
