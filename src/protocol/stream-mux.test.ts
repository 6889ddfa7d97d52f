import { once } from 'node:events';
import { type Duplex, duplexPair } from 'node:stream';
import { describe, expect, test } from 'vitest';
import * as z from 'zod/mini';
import type { StreamFrameSchema } from './envelope.js';
import { encodeFrame } from './frame-encoder.js';
import { PingResultSchema } from './guest-api.js';
import { STREAM_WINDOW_BYTES } from './limits.js';
import { RpcClient } from './rpc-client.js';
import { RpcServer } from './rpc-server.js';
import { MAX_STREAMS, StreamMux } from './stream-mux.js';

type Frame = z.infer<typeof StreamFrameSchema>;

/**
 * A mux whose frames land in `sent`, with its socket's far end for the test to use; `sentWhen`
 * resolves once what was sent satisfies a condition (checked at every frame).
 */
function muxWithSocket() {
  const sent: Frame[] = [];
  const waiters: { until: (sent: Frame[]) => boolean; resolve: () => void }[] = [];
  const mux = new StreamMux({
    send: (frame) => {
      sent.push(frame);
      for (const waiter of waiters.filter(({ until }) => until(sent))) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
      return true;
    },
    drained: async () => {},
  });
  const sentWhen = (until: (sent: Frame[]) => boolean): Promise<void> =>
    until(sent) ? Promise.resolve() : new Promise((resolve) => waiters.push({ until, resolve }));
  const [near, far] = duplexPair();
  return { sent, sentWhen, mux, near, far };
}

const dataBytes = (frames: readonly Frame[]): number =>
  frames
    .filter((frame) => frame.op === 'data')
    .reduce((sum, frame) => sum + Buffer.from(frame.data ?? '', 'base64').length, 0);

/** Reads everything `end` receives until it ends. */
async function readAll(end: Duplex): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of end) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

/**
 * A guest (RpcServer) and a host (RpcClient) over an in-memory channel. The guest's `open`
 * method opens a stream for the next app socket; the host joins each stream to a new socket
 * whose far end is handed to `onHostSocket`.
 */
function channelPair(onHostSocket: (far: Duplex) => void) {
  const [hostEnd, guestEnd] = duplexPair();
  const apps: Duplex[] = [];
  new RpcServer(guestEnd, {
    ping: async () => ({ pid: 1, uptimeMs: 0, node: 'v24', execReady: false }),
    open: async (_params, context) => {
      const [near, far] = duplexPair();
      apps.push(far);
      return { opened: context.streams.open(near) };
    },
  });
  const client = new RpcClient(hostEnd, { name: 'test guest' });
  client.streams.accept(() => {
    const [near, far] = duplexPair();
    onHostSocket(far);
    return near;
  });
  return { client, guestEnd, apps };
}

describe('StreamMux', () => {
  test('carries bytes both ways with half-close, joined to a socket on each side', async () => {
    const hostSockets: Duplex[] = [];
    const { client, apps } = channelPair((far) => {
      hostSockets.push(far);
      // An echo server that answers once the client has finished sending.
      void readAll(far).then((text) => far.end(`echo:${text}|bye`));
    });
    await client.request('open', {}, anyResult);
    const app = apps[0] as Duplex;
    app.end('hello');
    expect(await readAll(app)).toBe('echo:hello|bye');
    expect(hostSockets).toHaveLength(1);
  });

  test('sends no more than the window until the receiver passes bytes on, then the rest', async () => {
    const { sent, sentWhen, mux, near, far } = muxWithSocket();
    mux.open(near);
    const total = STREAM_WINDOW_BYTES * 4;
    far.end(Buffer.alloc(total, 7));
    for (let granted = STREAM_WINDOW_BYTES; granted <= total; granted += STREAM_WINDOW_BYTES) {
      await sentWhen((frames) => dataBytes(frames) >= granted);
      // The credit is spent: the sender has stopped reading its socket and sent no more.
      expect(dataBytes(sent)).toBe(granted);
      if (granted < total) expect(near.isPaused()).toBe(true);
      // The receiver passed a window on: that much more may come.
      mux.receive({ t: 'stream', s: 1, op: 'credit', n: STREAM_WINDOW_BYTES });
    }
    await sentWhen((frames) => frames.some((frame) => frame.op === 'eof'));
    expect(dataBytes(sent)).toBe(total);
  });

  test('grants credit only as the local socket takes the bytes', async () => {
    const { sent, mux, near, far } = muxWithSocket();
    mux.accept(() => near);
    mux.receive({ t: 'stream', s: 5, op: 'open' });
    const chunk = Buffer.alloc(1000, 1).toString('base64');
    mux.receive({ t: 'stream', s: 5, op: 'data', data: chunk });
    const read = once(far, 'data');
    expect((await read)[0]).toHaveLength(1000);
    await new Promise<void>((resolve) => near.write(Buffer.alloc(0), () => resolve()));
    expect(sent.filter((frame) => frame.op === 'credit')).toEqual([
      { t: 'stream', s: 5, op: 'credit', n: 1000 },
    ]);
  });

  test('a peer that sends past the window loses that stream only', async () => {
    const { sent, mux, near } = muxWithSocket();
    const [other] = duplexPair();
    const sockets = [near, other];
    mux.accept(() => sockets.shift() as Duplex);
    mux.receive({ t: 'stream', s: 1, op: 'open' });
    mux.receive({ t: 'stream', s: 2, op: 'open' });
    // Nobody reads the far end, so nothing is credited back: the window fills and then some.
    const piece = Buffer.alloc(32 * 1024).toString('base64');
    for (let sentBytes = 0; sentBytes <= STREAM_WINDOW_BYTES; sentBytes += 32 * 1024)
      mux.receive({ t: 'stream', s: 1, op: 'data', data: piece });
    expect(near.destroyed).toBe(true);
    expect(sent.at(-1)).toMatchObject({ s: 1, op: 'close', reason: /more than its window/ });
    expect(other.destroyed).toBe(false);
    expect(mux.size).toBe(1);
  });

  test('refuses credit never owed, a second open of a live id, and opens past the cap', () => {
    const { sent, mux, near } = muxWithSocket();
    mux.open(near);
    mux.receive({ t: 'stream', s: 1, op: 'credit', n: 1 });
    expect(sent.at(-1)).toMatchObject({ s: 1, op: 'close', reason: /never owed/ });
    expect(near.destroyed).toBe(true);

    const second = muxWithSocket();
    second.mux.accept(() => duplexPair()[0]);
    second.mux.receive({ t: 'stream', s: 9, op: 'open' });
    second.mux.receive({ t: 'stream', s: 9, op: 'open' });
    expect(second.sent.at(-1)).toMatchObject({ s: 9, op: 'close', reason: /opened twice/ });

    const capped = muxWithSocket();
    capped.mux.accept(() => duplexPair()[0]);
    for (let id = 1; id <= MAX_STREAMS + 1; id++)
      capped.mux.receive({ t: 'stream', s: id, op: 'open' });
    expect(capped.mux.size).toBe(MAX_STREAMS);
    expect(capped.sent.at(-1)).toMatchObject({ s: MAX_STREAMS + 1, op: 'close' });
  });

  test('a side that takes no streams refuses them; frames of unknown streams are dropped', () => {
    const { sent, mux } = muxWithSocket();
    mux.receive({ t: 'stream', s: 3, op: 'open' });
    expect(sent).toEqual([
      { t: 'stream', s: 3, op: 'close', reason: 'this side takes no streams' },
    ]);
    mux.receive({ t: 'stream', s: 4, op: 'data', data: 'AAAA' });
    mux.receive({ t: 'stream', s: 4, op: 'close' });
    expect(sent).toHaveLength(1);
  });

  test('a stalled bulk stream leaves the channel free for requests', async () => {
    // The host's socket is never read: its stream stalls at the window.
    const { client, apps } = channelPair(() => undefined);
    await client.request('open', {}, anyResult);
    const app = apps[0] as Duplex;
    const big = Buffer.alloc(8 * STREAM_WINDOW_BYTES);
    app.write(big);
    const ping = await client.request('ping', {}, PingResultSchema);
    expect(ping.pid).toBe(1);
    expect(client.streams.size).toBe(1);
  });

  test('a malformed stream frame from the guest closes its channel, nothing more', async () => {
    const { client, guestEnd } = channelPair(() => undefined);
    guestEnd.write(encodeFrame({ t: 'stream', s: 0, op: 'data' }));
    const error = await client.whenClosed();
    expect(error?.code).toBe('PROTOCOL_ERROR');
    expect(client.streams.closed).toBe(true);
  });
});

const anyResult = z.unknown();
