import type { Duplex } from 'node:stream';
import type * as z from 'zod/mini';
import { IronClawError, toIronClawError } from '../core/errors.js';
import { ClientMessageSchema } from './envelope.js';
import { FrameChannel } from './frame-channel.js';
import { formatIssues } from './format-issues.js';
import type { WindowSize } from './window-size.js';
import { StreamMux } from './stream-mux.js';

/** What a handler gets besides its params: cancellation, events, input. */
export interface RequestContext {
  readonly id: number;
  readonly signal: AbortSignal;
  /** Sends an event for this request; false means wait for `drained()` before sending more. */
  emit(event: string, data: unknown): boolean;
  drained(): Promise<void>;
  /** Registers the receiver of this request's `input` messages (stdin). */
  onInput(receiver: (data: Buffer | undefined, eof: boolean) => void): void;
  /** Registers the receiver of this request's terminal resizes (an exec in a pseudo-terminal). */
  onResize(receiver: (size: WindowSize) => void): void;
  /** Byte streams over this connection, to the client (a VM's egress connections). */
  readonly streams: StreamMux;
}

export type Handler = (params: unknown, context: RequestContext) => Promise<unknown>;

type InputReceiver = (data: Buffer | undefined, eof: boolean) => void;

interface Running {
  controller: AbortController;
  input: InputReceiver | undefined;
  /** Input that arrived before the handler registered its receiver; handed over on register. */
  early: { data: Buffer | undefined; eof: boolean }[];
  earlyBytes: number;
  resize: ((size: WindowSize) => void) | undefined;
  /** The last resize that arrived before the handler registered its receiver. */
  earlyResize: WindowSize | undefined;
}

/** Input a request may receive before its handler is ready for it; past this, it fails. */
const MAX_EARLY_INPUT_BYTES = 64 * 1024 * 1024;

/** Parses a request's params with its schema, or fails with INVALID_ARGUMENT saying what is wrong. */
export function parseParams<S extends z.ZodMiniType>(
  schema: S,
  params: unknown,
  method: string,
): z.infer<S> {
  const parsed = schema.safeParse(params);
  if (!parsed.success) {
    throw new IronClawError(
      'INVALID_ARGUMENT',
      `invalid ${method} request: ${formatIssues(parsed.error)}`,
    );
  }
  return parsed.data;
}

/**
 * The serving side of a framed connection. Requests run concurrently; each gets an
 * AbortSignal that fires on `cancel` or when the connection closes.
 */
export class RpcServer {
  readonly #channel: FrameChannel;
  readonly #handlers: ReadonlyMap<string, Handler>;
  readonly #running = new Map<number, Running>();
  readonly #onClose: ((error: IronClawError | undefined) => void) | undefined;
  readonly #streams: StreamMux;

  constructor(
    stream: Duplex,
    handlers: Record<string, Handler>,
    options: { maxFrameBytes?: number; onClose?: (error: IronClawError | undefined) => void } = {},
  ) {
    this.#handlers = new Map(Object.entries(handlers));
    this.#onClose = options.onClose;
    this.#channel = new FrameChannel(stream, {
      ...(options.maxFrameBytes === undefined ? {} : { maxFrameBytes: options.maxFrameBytes }),
      onMessage: (message) => this.#receive(message),
      onClose: (error) => {
        for (const running of this.#running.values())
          running.controller.abort(
            error ?? new IronClawError('CHANNEL_CLOSED', 'the connection closed'),
          );
        this.#running.clear();
        this.#streams?.close();
        this.#onClose?.(error);
      },
    });
    this.#streams = new StreamMux({
      send: (frame) => this.#channel.send(frame),
      drained: () => this.#channel.drained(),
    });
  }

  close(): void {
    this.#channel.close();
  }

  #receive(raw: unknown): void {
    const parsed = ClientMessageSchema.safeParse(raw);
    if (!parsed.success) {
      this.#channel.fail(
        new IronClawError('PROTOCOL_ERROR', `malformed message: ${formatIssues(parsed.error)}`),
      );
      return;
    }
    const message = parsed.data;
    switch (message.t) {
      case 'stream':
        this.#streams.receive(message);
        return;
      case 'req':
        this.#start(message.id, message.method, message.params);
        return;
      case 'cancel':
        this.#running
          .get(message.id)
          ?.controller.abort(new IronClawError('ABORTED', 'cancelled by the client'));
        return;
      case 'input':
        if (message.resize) this.#resize(message.id, message.resize);
        if (message.data === undefined && message.eof !== true) return;
        this.#input(
          message.id,
          message.data === undefined ? undefined : Buffer.from(message.data, 'base64'),
          message.eof === true,
        );
        return;
      case 'fatal':
        this.#channel.close(
          new IronClawError(message.error.code, `the client gave up: ${message.error.message}`),
        );
        return;
    }
  }

  #start(id: number, method: string, params: unknown): void {
    if (this.#running.has(id)) {
      this.#respondError(
        id,
        new IronClawError('PROTOCOL_ERROR', `request id ${id} is already in use`),
      );
      return;
    }
    const handler = this.#handlers.get(method);
    if (!handler) {
      const known = [...this.#handlers.keys()].join(', ');
      this.#respondError(
        id,
        new IronClawError(
          'INVALID_ARGUMENT',
          `unknown method ${JSON.stringify(method)}; known: ${known}`,
        ),
      );
      return;
    }
    const running: Running = {
      controller: new AbortController(),
      input: undefined,
      early: [],
      earlyBytes: 0,
      resize: undefined,
      earlyResize: undefined,
    };
    this.#running.set(id, running);
    const context: RequestContext = {
      id,
      signal: running.controller.signal,
      // Nothing is sent for a request after its answer: the client has forgotten the id (and
      // work a request started can outlive it, still reporting to it).
      emit: (event, data) =>
        this.#channel.closed || this.#running.get(id) !== running
          ? true
          : this.#channel.send({ t: 'evt', id, event, data }),
      drained: () => this.#channel.drained(),
      streams: this.#streams,
      onInput: (receiver) => {
        running.input = receiver;
        for (const { data, eof } of running.early.splice(0)) receiver(data, eof);
      },
      onResize: (receiver) => {
        running.resize = receiver;
        if (running.earlyResize) receiver(running.earlyResize);
        running.earlyResize = undefined;
      },
    };
    // A handler that throws before returning its promise (a plain arrow around parseParams)
    // must still answer with an error, not throw out of the stream's data listener.
    new Promise<unknown>((resolve) => resolve(handler(params, context))).then(
      (result) =>
        this.#finish(id, running, () => ({ t: 'res', id, ok: true, result: result ?? {} })),
      (error: unknown) =>
        this.#finish(id, running, () => ({
          t: 'res',
          id,
          ok: false,
          error: toIronClawError(error).toJSON(),
        })),
    );
  }

  /** Input for a request that is not running (finished, cancelled) is dropped: nothing waits for it. */
  #input(id: number, data: Buffer | undefined, eof: boolean): void {
    const running = this.#running.get(id);
    if (!running) return;
    if (running.input) {
      running.input(data, eof);
      return;
    }
    running.earlyBytes += data?.length ?? 0;
    if (running.earlyBytes > MAX_EARLY_INPUT_BYTES) {
      running.controller.abort(
        new IronClawError(
          'INVALID_ARGUMENT',
          `request ${id} was sent more than ${MAX_EARLY_INPUT_BYTES} bytes of input before it could take any`,
        ),
      );
      return;
    }
    running.early.push({ data, eof });
  }

  /** Only the latest size matters: one that arrives before its receiver replaces the last. */
  #resize(id: number, size: WindowSize): void {
    const running = this.#running.get(id);
    if (!running) return;
    if (running.resize) running.resize(size);
    else running.earlyResize = size;
  }

  #finish(id: number, running: Running, response: () => unknown): void {
    if (this.#running.get(id) !== running) return;
    this.#running.delete(id);
    if (this.#channel.closed) return;
    try {
      this.#channel.send(response());
    } catch (error) {
      // A result too large for one frame becomes an error the caller can act on.
      this.#respondError(id, toIronClawError(error));
    }
  }

  #respondError(id: number, error: IronClawError): void {
    if (!this.#channel.closed)
      this.#channel.send({ t: 'res', id, ok: false, error: error.toJSON() });
  }
}
