import { duplexPair, type Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { IronClawError } from '../core/errors.js';
import { FrameChannel } from './frame-channel.js';
import { FrameDecoder } from './frame-decoder.js';
import { encodeFrame } from './frame-encoder.js';

/** A channel on one end of an in-memory pair; the test drives the other end byte by byte. */
function open(options: { maxFrameBytes?: number } = {}) {
  const [near, far] = duplexPair();
  const received: unknown[] = [];
  const closes: (IronClawError | undefined)[] = [];
  let resolveClosed: (error: IronClawError | undefined) => void = () => {};
  const closed = new Promise<IronClawError | undefined>((resolve) => (resolveClosed = resolve));
  const channel = new FrameChannel(near, {
    ...options,
    onMessage: (message) => received.push(message),
    onClose: (error) => {
      closes.push(error);
      resolveClosed(error);
    },
  });
  return { channel, near, far, received, closes, closed, fromChannel: collect(far) };
}

/** Decodes what arrives on `end`; resolves with every message once the stream ends. */
function collect(end: Duplex): Promise<unknown[]> {
  const decoder = new FrameDecoder();
  const messages: unknown[] = [];
  end.on('data', (chunk: Buffer) => messages.push(...decoder.push(chunk)));
  return new Promise((resolve) => end.on('end', () => resolve(messages)));
}

describe('FrameChannel', () => {
  it('delivers messages from the peer and sends its own as frames', async () => {
    const { channel, far, received, closed, fromChannel } = open();
    far.write(Buffer.concat([encodeFrame({ n: 1 }), encodeFrame({ n: 2 }).subarray(0, 3)]));
    far.write(encodeFrame({ n: 2 }).subarray(3));
    channel.send({ reply: true });
    far.end();
    expect(await closed).toBeUndefined();
    expect(received).toEqual([{ n: 1 }, { n: 2 }]);
    expect(await fromChannel).toEqual([{ reply: true }]);
  });

  it('reads nothing while paused (nested pauses too), then delivers what waited, in order', async () => {
    const { channel, near, far, received } = open();
    const first = Promise.withResolvers<void>();
    const second = Promise.withResolvers<void>();
    channel.pauseUntil(first.promise);
    channel.pauseUntil(second.promise);
    const [one, two] = [encodeFrame({ n: 1 }), encodeFrame({ n: 2 })];
    far.write(one);
    // The write's callback is the event: both frames have reached the channel's end, unread.
    await new Promise<void>((resolve, reject) =>
      far.write(two, (error) => (error ? reject(error) : resolve())),
    );
    expect(near.readableLength).toBe(one.length + two.length);
    expect(received).toEqual([]);
    // Awaiting a pause's promise runs the channel's own handler for it first (it was attached
    // first): once the await returns, that pause has ended.
    first.resolve();
    await first.promise;
    expect(near.isPaused()).toBe(true);
    expect(received).toEqual([]);
    second.resolve();
    await second.promise;
    await expect.poll(() => received).toEqual([{ n: 1 }, { n: 2 }]);
  });

  it('closes with FRAME_TRUNCATED when the peer ends inside a frame', async () => {
    const { far, closed } = open();
    far.end(encodeFrame({ cut: 'short' }).subarray(0, 7));
    expect((await closed)?.code).toBe('FRAME_TRUNCATED');
  });

  it('answers a bad frame with a fatal frame, then ends the stream', async () => {
    // Room for the fatal frame itself, which obeys the same limit as every other frame.
    const { channel, far, received, closed, fromChannel } = open({ maxFrameBytes: 1024 });
    far.write(encodeFrame({ before: true }));
    const announce = Buffer.alloc(4);
    announce.writeUInt32BE(1025, 0);
    far.write(announce);
    expect((await closed)?.code).toBe('FRAME_TOO_LARGE');
    expect(channel.closed).toBe(true);
    expect(received).toEqual([{ before: true }]);
    const sent = await fromChannel;
    expect(sent).toMatchObject([{ t: 'fatal', error: { code: 'FRAME_TOO_LARGE' } }]);
    expect(JSON.stringify(sent)).toContain('announcing 1025 bytes');
  });

  it('ignores frames that arrive after it failed', async () => {
    const { far, received, closed } = open();
    far.write(Buffer.concat([Buffer.from([0, 0, 0, 1, 0x7b]), encodeFrame({ late: true })]));
    expect((await closed)?.code).toBe('FRAME_INVALID');
    far.write(encodeFrame({ later: true }));
    expect(received).toEqual([]);
  });

  it('refuses to send a frame over its limit and stays open', () => {
    const { channel } = open({ maxFrameBytes: 16 });
    expect(() => channel.send('x'.repeat(32))).toThrow(
      expect.objectContaining({ code: 'FRAME_TOO_LARGE' }),
    );
    expect(channel.closed).toBe(false);
    expect(channel.send('ok')).toBe(true);
  });

  it('calls onClose once, with the first reason, and refuses to send afterwards', async () => {
    const { channel, closes, closed } = open();
    const reason = new IronClawError('PROTOCOL_ERROR', 'first');
    channel.close(reason);
    channel.close(new IronClawError('INTERNAL', 'second'));
    channel.close();
    expect(await closed).toBe(reason);
    expect(closes).toEqual([reason]);
    expect(() => channel.send({})).toThrow(expect.objectContaining({ code: 'CHANNEL_CLOSED' }));
    await expect(channel.drained()).resolves.toBeUndefined();
  });
});
