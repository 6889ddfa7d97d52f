import type { Duplex } from 'node:stream';
import { IronClawError, toIronClawError } from '../core/errors.js';
import { encodeFrame } from './frame-encoder.js';
import { FrameDecoder } from './frame-decoder.js';
import { MAX_FRAME_BYTES } from './limits.js';

export interface FrameChannelOptions {
  maxFrameBytes?: number;
  onMessage: (message: unknown) => void;
  /** Called once, with the reason when the channel failed rather than ended cleanly. */
  onClose: (error: IronClawError | undefined) => void;
}

/** Frames over a byte stream: one decoder (one buffer) for the life of the connection. */
export class FrameChannel {
  readonly #stream: Duplex;
  readonly #decoder: FrameDecoder;
  readonly #maxFrameBytes: number;
  readonly #options: FrameChannelOptions;
  #closed = false;
  #pauses = 0;

  constructor(stream: Duplex, options: FrameChannelOptions) {
    this.#stream = stream;
    this.#options = options;
    this.#maxFrameBytes = options.maxFrameBytes ?? MAX_FRAME_BYTES;
    this.#decoder = new FrameDecoder({ maxBytes: this.#maxFrameBytes });
    stream.on('data', (chunk: Buffer) => this.#receive(chunk));
    stream.on('end', () => this.#ended());
    stream.on('error', (error) =>
      this.close(
        new IronClawError('CHANNEL_CLOSED', `the connection failed: ${error.message}`, {
          cause: error,
        }),
      ),
    );
    stream.on('close', () => this.close());
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Sends one message. Returns false when the stream wants the sender to wait for drain. */
  send(message: unknown): boolean {
    if (this.#closed)
      throw new IronClawError('CHANNEL_CLOSED', 'cannot send: the connection is closed');
    return this.#stream.write(encodeFrame(message, this.#maxFrameBytes));
  }

  /** Resolves when the stream has room again (or the channel closed). */
  drained(): Promise<void> {
    if (this.#closed || !this.#stream.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.#stream.off('drain', done);
        this.#stream.off('close', done);
        resolve();
      };
      this.#stream.on('drain', done);
      this.#stream.on('close', done);
    });
  }

  /**
   * Stops reading from the peer until `until` settles: flow control for a receiver whose own
   * consumer is slow (the peer's writes then fill the stream and it waits in turn). Pauses nest.
   */
  pauseUntil(until: Promise<unknown>): void {
    if (this.#closed) return;
    if (this.#pauses++ === 0) this.#stream.pause();
    const resume = (): void => {
      if (--this.#pauses === 0 && !this.#closed) this.#stream.resume();
    };
    until.then(resume, resume);
  }

  /**
   * Gives up on a connection whose peer broke the protocol: tells the peer why in a last
   * `fatal` frame, then closes. What was pending is failed by the owner's onClose.
   */
  fail(error: IronClawError): void {
    if (this.#closed) return;
    try {
      this.#stream.write(encodeFrame({ t: 'fatal', error: error.toJSON() }, this.#maxFrameBytes));
    } catch {
      // The peer may already be gone; the close below still happens.
    }
    this.#finish(error, false);
  }

  /** Closes the connection; the first reason given wins. Idempotent. */
  close(error?: IronClawError): void {
    this.#finish(error, error !== undefined);
  }

  #finish(error: IronClawError | undefined, destroy: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    // After a clean end, the stream is destroyed once flushed: a peer that never closes its
    // side cannot keep the connection open.
    if (destroy) this.#stream.destroy();
    else this.#stream.end(() => this.#stream.destroy());
    this.#options.onClose(error);
  }

  #receive(chunk: Buffer): void {
    if (this.#closed) return;
    let messages: unknown[];
    try {
      messages = this.#decoder.push(chunk);
    } catch (error) {
      this.fail(toIronClawError(error, 'FRAME_INVALID'));
      return;
    }
    for (const message of messages) {
      if (this.#closed) return;
      this.#options.onMessage(message);
    }
    // Good frames ahead of a bad one in the same read were delivered above; now give up.
    if (this.#decoder.failure) this.fail(this.#decoder.failure);
  }

  #ended(): void {
    try {
      this.#decoder.end();
      this.close();
    } catch (error) {
      this.#finish(toIronClawError(error, 'FRAME_TRUNCATED'), true);
    }
  }
}
