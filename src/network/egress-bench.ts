import type { Socket } from 'node:net';

/**
 * Measurements for the speed rows, ready for bench/ to call with a direct connection
 * and one through the proxy, in the same run: the ratio is what counts, not the numbers.
 */
export interface LatencySummary {
  count: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
}

/** An open connection to an echo server, directly or through the proxy's tunnel. */
export type OpenEcho = () => Promise<Socket>;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

function echoOnce(socket: Socket, payload: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const onData = (chunk: Buffer): void => {
      got += chunk.length;
      if (got < payload.length) return;
      socket.off('data', onData);
      socket.off('error', reject);
      resolve();
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(payload);
  });
}

/** Round trips before measuring, to let the JIT and the socket paths warm up. */
const WARM_UP = 5;

/** Connect, one small round trip, close: `count` times, one after another, after a warm-up. */
export async function measureConnectRoundTrip(
  open: OpenEcho,
  count: number,
): Promise<LatencySummary> {
  const times: number[] = [];
  const payload = Buffer.from('ping');
  for (let i = 0; i < WARM_UP + count; i++) {
    const started = performance.now();
    const socket = await open();
    await echoOnce(socket, payload);
    if (i >= WARM_UP) times.push(performance.now() - started);
    socket.destroy();
  }
  times.sort((a, b) => a - b);
  return {
    count,
    p50Ms: percentile(times, 50),
    p90Ms: percentile(times, 90),
    p99Ms: percentile(times, 99),
  };
}

/** Bytes per second echoed through one connection, `totalBytes` in chunks of 64 KiB. */
export async function measureEchoThroughput(open: OpenEcho, totalBytes: number): Promise<number> {
  const socket = await open();
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const started = performance.now();
  for (let sent = 0; sent < totalBytes; sent += chunk.length) await echoOnce(socket, chunk);
  const seconds = (performance.now() - started) / 1000;
  socket.destroy();
  return totalBytes / seconds;
}
