// Egress rows (issue 14): a request to a loopback server and a bulk download from one, direct
// and through our proxy (on its Unix socket, as a box reaches it), and through srt's proxy,
// taken in turns so all three see the same load; and a box start with --allow-net beside one
// without. The proxy code is the package snapshot's (dist/egress-bench.mjs).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { URL, fileURLToPath, pathToFileURL } from 'node:url';
import { row } from './stats.mjs';
import { loadSrtProxy } from './srt-proxy.mjs';

/** One download's size: long enough that the connect and the tunnel set-up do not count. */
const DOWNLOAD_BYTES = 32 * 1024 * 1024;
/** Requests are cheap: several per run, for a steadier median. */
const REQUESTS_PER_RUN = 4;

/**
 * @param {import('./api-rows.mjs').Library} library
 * @param {string} root the package snapshot
 * @param {import('./run.mjs').Plan} counts
 * @param {(message: string) => void} progress
 * @returns {Promise<import('./report.mjs').Row[]>}
 */
export async function measureEgress(library, root, counts, progress) {
  /** @type {typeof import('../src/network/egress-bench.js')} */
  const kit = await import(pathToFileURL(`${root}/dist/egress-bench.mjs`).href);
  const srt = await loadSrtProxy(progress);
  if ('missing' in srt) progress(`srt rows skipped: ${srt.missing}`);
  await using servers = await kit.startBenchServers();
  const ports = [servers.echoPort, servers.sourcePort];
  const proxies = await startProxies(root, ports, 'missing' in srt ? undefined : srt.module);
  const theirs = proxies.srtPort === undefined ? undefined : { port: proxies.srtPort };
  const ours = { socketPath: proxies.socketPath };
  try {
    /** @type {[string, import('../src/network/egress-bench.js').OpenTcp][]} */
    const ways = [
      ['direct', kit.openDirect],
      ['proxy', kit.openThroughProxy(ours.socketPath)],
      ...(theirs ? [/** @type {const} */ (['srt', kit.openThroughProxy(theirs.port)])] : []),
    ];
    progress(`egress rows: requests and ${DOWNLOAD_BYTES / 1024 / 1024} MiB downloads, in turns`);
    /** @type {Record<string, number[]>} */
    const requests = Object.fromEntries(ways.map(([name]) => [name, []]));
    /** @type {Record<string, number[]>} */
    const downloads = Object.fromEntries(ways.map(([name]) => [name, []]));
    for (let run = 0; run < counts.warmup + counts.runs; run++) {
      counts.signal.throwIfAborted();
      for (let i = 0; i < REQUESTS_PER_RUN; i++)
        for (const [name, open] of ways) {
          const ms = await kit.timeRequest(open, servers.echoPort);
          if (run >= counts.warmup) requests[name]?.push(ms);
        }
      for (const [name, open] of ways) {
        const perSecond = await kit.timeDownload(open, servers.sourcePort, DOWNLOAD_BYTES);
        if (run >= counts.warmup) downloads[name]?.push(perSecond / 1e6);
      }
    }
    const srtName = 'missing' in srt ? '' : `srt ${srt.version}'s`;
    /** @type {import('./report.mjs').Row[]} */
    const rows = [
      row(
        'egress-direct',
        'loopback request, direct: connect + 4-byte round trip',
        false,
        requests.direct ?? [],
      ),
      row(
        'egress-proxy',
        'loopback request through our proxy (CONNECT on its Unix socket)',
        false,
        requests.proxy ?? [],
      ),
      {
        ...row(
          'egress-bulk-direct',
          `loopback download of ${DOWNLOAD_BYTES / 1024 / 1024} MiB, direct`,
          false,
          downloads.direct ?? [],
        ),
        unit: 'MB/s',
      },
      {
        ...row(
          'egress-bulk-proxy',
          `loopback download of ${DOWNLOAD_BYTES / 1024 / 1024} MiB through our proxy`,
          false,
          downloads.proxy ?? [],
        ),
        unit: 'MB/s',
      },
    ];
    if (theirs)
      rows.push(
        row(
          'egress-srt',
          `loopback request through ${srtName} HTTP proxy (CONNECT on TCP)`,
          true,
          requests.srt ?? [],
        ),
        {
          ...row(
            'egress-bulk-srt',
            `loopback download of ${DOWNLOAD_BYTES / 1024 / 1024} MiB through ${srtName} HTTP proxy`,
            true,
            downloads.srt ?? [],
          ),
          unit: 'MB/s',
        },
      );
    rows.push(...(await measureBoxStart(library, counts, servers.echoPort, progress)));
    return rows;
  } finally {
    await proxies.close();
  }
}

/**
 * Starts egress-proxies.mjs and waits for its line.
 * @param {string} root @param {number[]} ports @param {string | undefined} srtModule
 * @returns {Promise<{ socketPath: string, srtPort?: number, close: () => Promise<void> }>}
 */
async function startProxies(root, ports, srtModule) {
  const script = fileURLToPath(new URL('./egress-proxies.mjs', import.meta.url));
  const child = spawn(
    process.execPath,
    [script, root, JSON.stringify(ports), ...(srtModule ? [srtModule] : [])],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const close = async () => {
    child.stdin.end();
    await exited;
  };
  const [line] = await Promise.race([
    once(createInterface({ input: child.stdout }), 'line'),
    exited.then((code) => {
      throw new Error(`the bench proxies exited (${code}) before they listened`);
    }),
  ]);
  return { ...JSON.parse(String(line)), close };
}

/**
 * createSandbox() until the sandbox is ready, without and with --allow-net, in turns; the
 * destroy is not timed.
 * @param {import('./api-rows.mjs').Library} library
 * @param {import('./run.mjs').Plan} counts
 * @param {number} port
 * @param {(message: string) => void} progress
 */
async function measureBoxStart({ createSandbox }, counts, port, progress) {
  progress('box start with and without --allow-net, in turns');
  /** @type {{ plain: number[], net: number[] }} */
  const samples = { plain: [], net: [] };
  for (let run = 0; run < counts.warmup + counts.runs; run++) {
    for (const kind of /** @type {const} */ (['plain', 'net'])) {
      counts.signal.throwIfAborted();
      const started = performance.now();
      const box = await createSandbox(kind === 'net' ? { allowNet: [`127.0.0.1:${port}`] } : {});
      const ms = performance.now() - started;
      await box.destroy();
      if (run >= counts.warmup) samples[kind].push(ms);
    }
  }
  return [
    row('box-start', 'box start: createSandbox() to ready', false, samples.plain),
    row(
      'box-start-net',
      'box start with --allow-net (its proxy, the bridge in the box)',
      false,
      samples.net,
    ),
  ];
}

/**
 * The comparison with srt, in one line: what each proxy adds to a request, and bulk through
 * ours as a share of bulk through theirs.
 * @param {import('./report.mjs').Row[]} rows
 * @returns {string | undefined}
 */
export function formatSrtComparison(rows) {
  /** @param {string} id */
  const p50 = (id) => rows.find((candidate) => candidate.id === id)?.stats.p50;
  const [direct, ours, srt, bulkOurs, bulkSrt] = [
    'egress-direct',
    'egress-proxy',
    'egress-srt',
    'egress-bulk-proxy',
    'egress-bulk-srt',
  ].map(p50);
  if (direct === undefined || ours === undefined || srt === undefined) return undefined;
  if (bulkOurs === undefined || bulkSrt === undefined) return undefined;
  return (
    `egress vs srt: a request adds p50 ${(ours - direct).toFixed(3)} ms through ours, ${(srt - direct).toFixed(3)} ms through srt's` +
    ` (ours/srt ${(ours / srt).toFixed(2)}x the request time); bulk ours/srt = ${(bulkOurs / bulkSrt).toFixed(2)}x`
  );
}
