// The proxies of the egress rows, in a process of their own (bench/egress-rows.mjs starts it):
// a proxy runs beside its clients, not on their event loop, and in one process a download
// through it would do twice the work on one thread and measure that instead. Prints one JSON
// line, { socketPath, srtPort }, once listening; closes everything when its stdin ends.
// argv: <package snapshot root> <ports as JSON> [srt's http-proxy.js]
import { pathToFileURL } from 'node:url';
import { startSrtProxy } from './srt-proxy.mjs';

const [root = '', portsJson = '[]', srtModule] = process.argv.slice(2);
/** @type {number[]} */
const ports = JSON.parse(portsJson);
/** @type {typeof import('../src/network/egress-bench.js')} */
const kit = await import(pathToFileURL(`${root}/dist/egress-bench.mjs`).href);
const ours = await kit.startBenchProxy(ports);
const theirs = srtModule
  ? await startSrtProxy((await import(pathToFileURL(srtModule).href)).createHttpProxyServer, ports)
  : undefined;
process.stdout.write(`${JSON.stringify({ socketPath: ours.socketPath, srtPort: theirs?.port })}\n`);
process.stdin.resume();
process.stdin.once('end', async () => {
  await Promise.allSettled([ours[Symbol.asyncDispose](), theirs?.close()]);
  process.exit(0);
});
