import type { Duplex } from 'node:stream';
import type * as z from 'zod/mini';
import { IronClawError } from '../core/errors.js';
import { ServerMessageSchema } from './envelope.js';
import { FrameChannel } from './frame-channel.js';
import { formatIssues } from './format-issues.js';
import type { WindowSize } from './window-size.js';

interface Pending {
  resolve: (result: unknown) => void;
  reject: (error: IronClawError) => void;
  onEvent: ((event: string, data: unknown) => void) | undefined;
}

export interface CallOptions {
  signal?: AbortSignal | undefined;
  onEvent?: ((event: string, data: unknown) => void) | undefined;
}

/** A request in flight: its id (for input), and its result. */
export interface Call<T> {
  readonly id: number;
  readonly result: Promise<T>;
  /** Sends more input (stdin) to the request; `eof` closes it. */
  input(data: Uint8Array | undefined, eof?: boolean): boolean;
  /** Tells the request its terminal's new size (an exec in a pseudo-terminal). */
  resize(size: WindowSize): boolean;
}

/**
 * The calling side of a framed connection. The peer is not trusted: a frame that does not match
 * the envelope closes the connection and fails every pending call, so nothing waits forever.
 */
export class RpcClient {
  readonly #channel: FrameChannel;
  readonly #pending = new Map<number, Pending>();
  readonly #abandoned = new Set<number>();
  readonly #name: string;
  #nextId = 1;
  #closeError: IronClawError | undefined;
  readonly #closeWaiters: (() => void)[] = [];

  constructor(stream: Duplex, options: { name: string; maxFrameBytes?: number }) {
    this.#name = options.name;
    this.#channel = new FrameChannel(stream, {
      ...(options.maxFrameBytes === undefined ? {} : { maxFrameBytes: options.maxFrameBytes }),
      onMessage: (message) => this.#receive(message),
      onClose: (error) => this.#closed(error),
    });
  }

  get isClosed(): boolean {
    return this.#channel.closed;
  }

  /** Resolves when the connection is closed, with the reason if it failed. */
  whenClosed(): Promise<IronClawError | undefined> {
    if (this.#channel.closed) return Promise.resolve(this.#closeError);
    return new Promise((resolve) => this.#closeWaiters.push(() => resolve(this.#closeError)));
  }

  call<S extends z.ZodMiniType>(
    method: string,
    params: unknown,
    schema: S,
    options: CallOptions = {},
  ): Call<z.infer<S>> {
    const id = this.#nextId++;
    const { signal } = options;
    const result = new Promise<z.infer<S>>((resolve, reject) => {
      if (this.#channel.closed) {
        reject(this.#closedError());
        return;
      }
      if (signal?.aborted) {
        reject(abortError(signal));
        return;
      }
      const onAbort = (): void => {
        if (!this.#pending.delete(id)) return;
        this.#abandoned.add(id);
        // Bounded: a peer that never answers cancelled calls cannot grow this without limit.
        if (this.#abandoned.size > 4096)
          this.#abandoned.delete(this.#abandoned.values().next().value ?? id);
        if (!this.#channel.closed) this.#channel.send({ t: 'cancel', id });
        reject(abortError(signal));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const settle = (): void => signal?.removeEventListener('abort', onAbort);
      this.#pending.set(id, {
        onEvent: options.onEvent,
        resolve: (raw) => {
          settle();
          const parsed = schema.safeParse(raw);
          if (parsed.success) resolve(parsed.data);
          else
            reject(
              new IronClawError(
                'PROTOCOL_ERROR',
                `${this.#name} sent a malformed ${method} result: ${formatIssues(parsed.error)}`,
              ),
            );
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      });
      try {
        this.#channel.send({ t: 'req', id, method, params });
      } catch (error) {
        this.#pending.delete(id);
        settle();
        reject(error instanceof IronClawError ? error : this.#closedError());
      }
    });
    return {
      id,
      result,
      input: (data, eof) => {
        if (this.#channel.closed) return true;
        return this.#channel.send({
          t: 'input',
          id,
          ...(data ? { data: Buffer.from(data).toString('base64') } : {}),
          ...(eof ? { eof: true } : {}),
        });
      },
      resize: (size) =>
        this.#channel.closed
          ? true
          : this.#channel.send({ t: 'input', id, resize: { rows: size.rows, cols: size.cols } }),
    };
  }

  request<S extends z.ZodMiniType>(
    method: string,
    params: unknown,
    schema: S,
    options: CallOptions = {},
  ): Promise<z.infer<S>> {
    return this.call(method, params, schema, options).result;
  }

  /** Resolves when the outgoing stream has room again. */
  drained(): Promise<void> {
    return this.#channel.drained();
  }

  /**
   * Reads nothing more from the peer until `until` settles, so a slow consumer of a call's
   * events holds the peer back instead of this process buffering what it sends.
   */
  pauseReading(until: Promise<unknown>): void {
    this.#channel.pauseUntil(until);
  }

  close(): void {
    this.#channel.close();
  }

  #receive(raw: unknown): void {
    const parsed = ServerMessageSchema.safeParse(raw);
    if (!parsed.success) {
      this.#channel.fail(
        new IronClawError(
          'PROTOCOL_ERROR',
          `${this.#name} sent a malformed message: ${formatIssues(parsed.error)}`,
        ),
      );
      return;
    }
    const message = parsed.data;
    if (message.t === 'fatal') {
      this.#channel.close(
        new IronClawError(
          message.error.code,
          `${this.#name} closed the connection: ${message.error.message}`,
        ),
      );
      return;
    }
    const pending = this.#pending.get(message.id);
    if (!pending) {
      // A late answer to a call we gave up on is expected; anything else is a broken peer.
      if (this.#abandoned.has(message.id)) {
        if (message.t === 'res') this.#abandoned.delete(message.id);
        return;
      }
      this.#channel.fail(
        new IronClawError(
          'PROTOCOL_ERROR',
          `${this.#name} answered request ${message.id}, which was never sent`,
        ),
      );
      return;
    }
    if (message.t === 'evt') {
      pending.onEvent?.(message.event, message.data);
      return;
    }
    this.#pending.delete(message.id);
    if (message.ok) pending.resolve(message.result);
    else pending.reject(new IronClawError(message.error.code, message.error.message));
  }

  #closed(error: IronClawError | undefined): void {
    this.#closeError = error;
    const reason = this.#closedError();
    for (const pending of this.#pending.values()) pending.reject(reason);
    this.#pending.clear();
    for (const waiter of this.#closeWaiters.splice(0)) waiter();
  }

  #closedError(): IronClawError {
    const why = this.#closeError ? `: ${this.#closeError.message}` : '';
    return new IronClawError(
      this.#closeError?.code ?? 'CHANNEL_CLOSED',
      `the connection to ${this.#name} is closed${why}`,
      {
        cause: this.#closeError,
      },
    );
  }
}

function abortError(signal: AbortSignal | undefined): IronClawError {
  const reason: unknown = signal?.reason;
  if (reason instanceof IronClawError) return reason;
  if (reason instanceof Error && reason.name === 'TimeoutError') {
    return new IronClawError('TIMEOUT', 'the operation timed out', { cause: reason });
  }
  return new IronClawError('ABORTED', 'the operation was aborted', { cause: reason });
}
