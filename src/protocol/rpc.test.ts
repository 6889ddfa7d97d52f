import { duplexPair, type Duplex } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import * as z from 'zod/mini';
import { IronClawError } from '../core/errors.js';
import { FrameDecoder } from './frame-decoder.js';
import { encodeFrame } from './frame-encoder.js';
import { ExecParamsSchema, WriteFileParamsSchema } from './guest-api.js';
import { RpcClient } from './rpc-client.js';
import { type Handler, parseParams, RpcServer } from './rpc-server.js';

const Anything = z.unknown();
const Keyed = z.object({ key: z.string() });

function deferred<T = void>() {
  let resolve: (value: T) => void = () => {};
  const promise = new Promise<T>((done) => (resolve = done));
  return { promise, resolve };
}

/** Every message that arrives on `end`, decoded as it comes; `next()` waits for the next one. */
function inbox(end: Duplex) {
  const decoder = new FrameDecoder();
  const seen: unknown[] = [];
  const queued: unknown[] = [];
  const waiters: ((message: unknown) => void)[] = [];
  end.on('data', (chunk: Buffer) => {
    for (const message of decoder.push(chunk)) {
      seen.push(message);
      const waiter = waiters.shift();
      if (waiter) waiter(message);
      else queued.push(message);
    }
  });
  return {
    seen,
    next: (): Promise<unknown> =>
      queued.length > 0
        ? Promise.resolve(queued.shift())
        : new Promise((resolve) => waiters.push(resolve)),
  };
}

/** A real client and server over an in-memory pair, with a tap on what the server sends. */
function connect(
  handlers: Record<string, Handler>,
  options: { serverMaxFrameBytes?: number } = {},
) {
  const [clientEnd, serverEnd] = duplexPair();
  const serverClosed = deferred<IronClawError | undefined>();
  new RpcServer(serverEnd, handlers, {
    ...(options.serverMaxFrameBytes === undefined
      ? {}
      : { maxFrameBytes: options.serverMaxFrameBytes }),
    onClose: serverClosed.resolve,
  });
  const fromServer = inbox(clientEnd);
  const client = new RpcClient(clientEnd, { name: 'the test server' });
  return { client, serverClosed: serverClosed.promise, fromServer: fromServer.seen };
}

/** A real client against a server the test plays by hand, frame by frame. */
function fakeServer() {
  const [clientEnd, serverEnd] = duplexPair();
  const client = new RpcClient(clientEnd, { name: 'the fake server' });
  const fromClient = inbox(serverEnd);
  return {
    client,
    next: fromClient.next,
    send: (message: unknown) => serverEnd.write(encodeFrame(message)),
  };
}

/** The code of the IronClawError a promise rejects with. */
async function codeOf(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => new Error('expected a rejection'),
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(IronClawError);
  return (error as IronClawError).code;
}

/** Resolves with the reason once the handler's signal aborts. */
function abortReason(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) =>
    signal.addEventListener('abort', () => resolve(signal.reason), { once: true }),
  );
}

const ping: Handler = () => Promise.resolve({ pong: true });

describe('RpcClient and RpcServer', () => {
  it('runs calls concurrently and matches responses that come back out of order', async () => {
    const gates = { a: deferred(), b: deferred(), c: deferred() };
    const { client } = connect({
      wait: async (params) => {
        const { key } = parseParams(z.object({ key: z.enum(['a', 'b', 'c']) }), params, 'wait');
        await gates[key].promise;
        return { key };
      },
    });
    const settled: string[] = [];
    const [a, b, c] = (['a', 'b', 'c'] as const).map((key) =>
      client.request('wait', { key }, Keyed).then((result) => {
        settled.push(result.key);
        return result;
      }),
    );
    gates.c.resolve();
    await c;
    gates.a.resolve();
    await a;
    gates.b.resolve();
    expect(await Promise.all([a, b, c])).toEqual([{ key: 'a' }, { key: 'b' }, { key: 'c' }]);
    expect(settled).toEqual(['c', 'a', 'b']);
  });

  it('sends nothing for a request after its answer, so the client keeps the connection', async () => {
    // Work a request started can outlive it and still report to it (a VM template another
    // create waits for too); the client has forgotten the id by then and would fail the channel.
    let late: (() => boolean) | undefined;
    const { client, fromServer } = connect({
      start: async (_params, context) => {
        late = () => context.emit('progress', { message: 'still booting' });
        return {};
      },
      echo: async (params) => params,
    });
    await client.request('start', {}, Anything);
    expect(late?.()).toBe(true);
    expect(await client.request('echo', { key: 'alive' }, Keyed)).toEqual({ key: 'alive' });
    expect(fromServer.filter((message) => (message as { t: string }).t === 'evt')).toEqual([]);
  });

  it('routes each event to the call it belongs to', async () => {
    const gates = { a: deferred(), b: deferred() };
    const { client } = connect({
      tick: async (params, context) => {
        const { key } = parseParams(z.object({ key: z.enum(['a', 'b']) }), params, 'tick');
        context.emit('tick', { key, n: 1 });
        await gates[key].promise;
        context.emit('tick', { key, n: 2 });
        return {};
      },
    });
    const events = { a: [] as unknown[], b: [] as unknown[] };
    const calls = (['a', 'b'] as const).map((key) =>
      client.request('tick', { key }, Anything, {
        onEvent: (event, data) => events[key].push([event, data]),
      }),
    );
    gates.b.resolve();
    await calls[1];
    gates.a.resolve();
    await Promise.all(calls);
    expect(events.a).toEqual([
      ['tick', { key: 'a', n: 1 }],
      ['tick', { key: 'a', n: 2 }],
    ]);
    expect(events.b).toEqual([
      ['tick', { key: 'b', n: 1 }],
      ['tick', { key: 'b', n: 2 }],
    ]);
  });

  describe('cancellation', () => {
    it('sends a cancel that aborts the handler, and ignores the late response', async () => {
      const serverAborted = deferred<unknown>();
      const release = deferred();
      const { client, fromServer } = connect({
        ping,
        slow: async (_params, context) => {
          serverAborted.resolve(await abortReason(context.signal));
          await release.promise;
          context.emit('late', {}); // the handler ignores its signal and answers anyway
          return { late: true };
        },
      });
      const controller = new AbortController();
      const onEvent = vi.fn();
      const call = client.call('slow', {}, Anything, { signal: controller.signal, onEvent });
      await client.request('ping', {}, Anything); // the slow request is running by now
      controller.abort();
      expect(await codeOf(call.result)).toBe('ABORTED');
      expect(await serverAborted.promise).toMatchObject({ code: 'ABORTED' });

      release.resolve();
      await new Promise((resolve) => setImmediate(resolve)); // the late answer is on the wire
      expect(await client.request('ping', {}, Anything)).toEqual({ pong: true });
      expect(fromServer).toContainEqual({
        t: 'res',
        id: call.id,
        ok: true,
        result: { late: true },
      });
      expect(onEvent).not.toHaveBeenCalled();
      expect(client.isClosed).toBe(false);
    });

    it('rejects at once, sending nothing, when the signal is already aborted', async () => {
      const slow = vi.fn(ping);
      const { client } = connect({ slow });
      expect(
        await codeOf(client.request('slow', {}, Anything, { signal: AbortSignal.abort() })),
      ).toBe('ABORTED');
      const timedOut = AbortSignal.abort(new DOMException('too slow', 'TimeoutError'));
      expect(await codeOf(client.request('slow', {}, Anything, { signal: timedOut }))).toBe(
        'TIMEOUT',
      );
      expect(slow).not.toHaveBeenCalled();
    });

    it('aborts running handlers when the connection closes', async () => {
      const serverAborted = deferred<unknown>();
      const started = deferred();
      const { client, serverClosed } = connect({
        hang: async (_params, context) => {
          started.resolve();
          serverAborted.resolve(await abortReason(context.signal));
          return {};
        },
      });
      const pending = client.request('hang', {}, Anything);
      await started.promise;
      client.close();
      expect(await codeOf(pending)).toBe('CHANNEL_CLOSED');
      expect(await serverAborted.promise).toMatchObject({ code: 'CHANNEL_CLOSED' });
      expect(await serverClosed).toBeUndefined();
      expect(await client.whenClosed()).toBeUndefined();
      expect(await codeOf(client.request('hang', {}, Anything))).toBe('CHANNEL_CLOSED');
    });
  });

  describe('errors a server answers, after which it keeps serving', () => {
    it('answers an unknown method with INVALID_ARGUMENT', async () => {
      const { client } = connect({ ping });
      const error = client.request('format_disk', {}, Anything);
      await expect(error).rejects.toThrow(/unknown method "format_disk"; known: ping/);
      expect(await codeOf(error)).toBe('INVALID_ARGUMENT');
      expect(await client.request('ping', {}, Anything)).toEqual({ pong: true });
    });

    it('answers invalid params with INVALID_ARGUMENT, also from a handler that throws synchronously', async () => {
      const { client } = connect({
        // Guest handlers are plain arrows around parseParams: it throws before any promise exists.
        exec: (params) => Promise.resolve(parseParams(ExecParamsSchema, params, 'exec')),
        write_file: (params) =>
          Promise.resolve(params).then((p) => parseParams(WriteFileParamsSchema, p, 'write_file')),
      });
      const both = client.request('exec', { argv: ['ls'], shell: 'ls' }, Anything);
      await expect(both).rejects.toThrow(/invalid exec request: give exactly one of argv or shell/);
      expect(await codeOf(both)).toBe('INVALID_ARGUMENT');
      const badPath = client.request('write_file', { path: '', data: 'aGk=' }, Anything);
      await expect(badPath).rejects.toThrow(/invalid write_file request: path: /);
      expect(await codeOf(badPath)).toBe('INVALID_ARGUMENT');
      expect(await client.request('exec', { argv: ['ls'] }, Anything)).toEqual({ argv: ['ls'] });
    });

    it('passes a handler error code through and reports other throws as INTERNAL', async () => {
      const { client } = connect({
        missing: () => Promise.reject(new IronClawError('NOT_FOUND', 'no such file: /workspace/a')),
        broken: () => Promise.reject(new TypeError('x is undefined')),
      });
      const missing = client.request('missing', {}, Anything);
      await expect(missing).rejects.toThrow('no such file: /workspace/a');
      expect(await codeOf(missing)).toBe('NOT_FOUND');
      expect(await codeOf(client.request('broken', {}, Anything))).toBe('INTERNAL');
      expect(client.isClosed).toBe(false);
    });

    it('rejects a result that does not match the schema with PROTOCOL_ERROR, keeping the connection', async () => {
      const { client } = connect({ ping });
      expect(await codeOf(client.request('ping', {}, Keyed))).toBe('PROTOCOL_ERROR');
      expect(await client.request('ping', {}, Anything)).toEqual({ pong: true });
    });
  });

  it('refuses params JSON cannot carry with FRAME_INVALID, keeping the connection', async () => {
    const { client } = connect({ ping });
    expect(await codeOf(client.request('ping', { n: 1n }, Anything))).toBe('FRAME_INVALID');
    expect(await client.request('ping', {}, Anything)).toEqual({ pong: true });
  });

  describe('input', () => {
    it('delivers input to the handler in order, bytes intact, with eof', async () => {
      const { client } = connect({
        cat: (_params, context) => {
          const received: [string | null, boolean][] = [];
          return new Promise((resolve) =>
            context.onInput((data, eof) => {
              received.push([data ? data.toString('hex') : null, eof]);
              if (eof) resolve({ received });
            }),
          );
        },
      });
      const call = client.call('cat', {}, Anything);
      const allBytes = Uint8Array.from({ length: 256 }, (_, i) => i);
      call.input(Buffer.from('ab'));
      call.input(allBytes);
      call.input(Buffer.from('cd'), true);
      expect(await call.result).toEqual({
        received: [
          ['6162', false],
          [Buffer.from(allBytes).toString('hex'), false],
          ['6364', true],
        ],
      });

      const eofOnly = client.call('cat', {}, Anything);
      eofOnly.input(undefined, true);
      expect(await eofOnly.result).toEqual({ received: [[null, true]] });
    });

    it('delivers resizes; of those sent before the handler listens, the last is handed over', async () => {
      const { client } = connect({
        terminal: (_params, context) =>
          new Promise((resolve) => {
            const sizes: string[] = [];
            context.onInput(() =>
              context.onResize((size) => {
                sizes.push(`${size.rows}x${size.cols}`);
                if (size.rows === 3) resolve({ sizes });
              }),
            );
          }),
      });
      const call = client.call('terminal', {}, Anything);
      call.resize({ rows: 1, cols: 10 });
      call.resize({ rows: 2, cols: 20 });
      call.input(undefined, true);
      call.resize({ rows: 3, cols: 30 });
      expect(await call.result).toEqual({ sizes: ['2x20', '3x30'] });
    });

    it('a resize the schema refuses closes the connection with PROTOCOL_ERROR', async () => {
      const { client, serverClosed } = connect({ hang: () => new Promise(() => undefined) });
      const call = client.call('hang', {}, Anything);
      call.resize({ rows: 0, cols: 80 });
      expect((await serverClosed)?.code).toBe('PROTOCOL_ERROR');
      expect(await codeOf(call.result)).toBe('PROTOCOL_ERROR');
    });
  });

  describe('a broken peer closes the connection and fails every pending call', () => {
    it('a malformed message from the server: PROTOCOL_ERROR, and a fatal frame back', async () => {
      const { client, next, send } = fakeServer();
      const first = client.request('ping', {}, Anything);
      const second = client.request('ping', {}, Anything);
      expect(await next()).toEqual({ t: 'req', id: 1, method: 'ping', params: {} });
      expect(await next()).toEqual({ t: 'req', id: 2, method: 'ping', params: {} });
      send({ t: 'res', id: 1, ok: 'yes', result: {} });
      expect(await codeOf(first)).toBe('PROTOCOL_ERROR');
      expect(await codeOf(second)).toBe('PROTOCOL_ERROR');
      expect((await client.whenClosed())?.code).toBe('PROTOCOL_ERROR');
      expect(client.isClosed).toBe(true);
      expect(await next()).toMatchObject({ t: 'fatal', error: { code: 'PROTOCOL_ERROR' } });
      expect(await codeOf(client.request('ping', {}, Anything))).toBe('PROTOCOL_ERROR');
    });

    it.each([
      ['a response', { t: 'res', id: 99, ok: true, result: {} }],
      ['an event', { t: 'evt', id: 99, event: 'stdout', data: {} }],
    ])('%s for a request id never sent: PROTOCOL_ERROR', async (_what, message) => {
      const { client, next, send } = fakeServer();
      const pending = client.request('ping', {}, Anything);
      await next();
      send(message);
      await expect(pending).rejects.toThrow(/request 99, which was never sent/);
      expect(await codeOf(pending)).toBe('PROTOCOL_ERROR');
      expect((await client.whenClosed())?.code).toBe('PROTOCOL_ERROR');
    });

    it('a fatal frame from the server: the client closes with its code', async () => {
      const { client, next, send } = fakeServer();
      const pending = client.request('ping', {}, Anything);
      await next();
      send({ t: 'fatal', error: { code: 'FRAME_INVALID', message: 'you sent garbage' } });
      expect(await codeOf(pending)).toBe('FRAME_INVALID');
      expect((await client.whenClosed())?.message).toMatch(/you sent garbage/);
    });

    it('an oversize frame sent to the server: it sends fatal and closes; the client sees FRAME_TOO_LARGE', async () => {
      const echo = vi.fn((params: unknown) => Promise.resolve(params));
      const { client, serverClosed, fromServer } = connect({ echo }, { serverMaxFrameBytes: 1024 });
      const pending = client.request('echo', { data: 'x'.repeat(2000) }, Anything);
      expect(await codeOf(pending)).toBe('FRAME_TOO_LARGE');
      expect((await client.whenClosed())?.code).toBe('FRAME_TOO_LARGE');
      expect((await serverClosed)?.code).toBe('FRAME_TOO_LARGE');
      expect(fromServer).toMatchObject([{ t: 'fatal', error: { code: 'FRAME_TOO_LARGE' } }]);
      expect(JSON.stringify(fromServer)).toContain('the limit is 1024 bytes');
      expect(echo).not.toHaveBeenCalled();
    });
  });
});
