import { IronClawError } from '../core/errors.js';
import { FRAME_HEADER_BYTES, MAX_FRAME_BYTES } from './limits.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes a byte stream into messages. It owns one buffer for the whole connection, so bytes
 * of the next frame that arrive with the current one are kept, never dropped (the predecessor
 * lost them by making a new reader per message). After an error the decoder is poisoned: the
 * connection must be closed, because its framing can no longer be trusted.
 */
export class FrameDecoder {
  readonly #maxBytes: number;
  #buffer: Buffer = Buffer.alloc(0);
  #start = 0;
  #end = 0;
  #failed: IronClawError | undefined;

  constructor(options: { maxBytes?: number } = {}) {
    this.#maxBytes = options.maxBytes ?? MAX_FRAME_BYTES;
  }

  /** Bytes received but not yet part of a complete frame. */
  get pendingBytes(): number {
    return this.#end - this.#start;
  }

  /** The error that poisoned the decoder, if any. */
  get failure(): IronClawError | undefined {
    return this.#failed;
  }

  /**
   * Feeds bytes in; returns every message they complete, in order. A bad frame throws a typed
   * error, unless good frames came before it in the same chunk: those are returned first, and
   * `failure` is set (the next call throws).
   */
  push(chunk: Uint8Array): unknown[] {
    if (this.#failed) throw this.#failed;
    this.#append(chunk);
    const messages: unknown[] = [];
    try {
      this.#drain(messages);
    } catch (error) {
      if (messages.length === 0) throw error;
    }
    return messages;
  }

  #drain(messages: unknown[]): void {
    for (;;) {
      const available = this.#end - this.#start;
      if (available < FRAME_HEADER_BYTES) break;
      const length = this.#buffer.readUInt32BE(this.#start);
      if (length > this.#maxBytes) {
        // Checked from the header alone, before any of the payload is buffered.
        throw this.#fail(
          'FRAME_TOO_LARGE',
          `received a frame announcing ${length} bytes: the limit is ${this.#maxBytes} bytes`,
        );
      }
      if (available < FRAME_HEADER_BYTES + length) break;
      const from = this.#start + FRAME_HEADER_BYTES;
      messages.push(this.#parse(this.#buffer.subarray(from, from + length)));
      this.#start = from + length;
    }
    if (this.#start === this.#end) {
      this.#start = 0;
      this.#end = 0;
      // Let one large frame's buffer go rather than holding it for the connection's life.
      if (this.#buffer.length > 1024 * 1024) this.#buffer = Buffer.alloc(0);
    }
  }

  /** Call when the stream ends: a partial frame left over is an error, not silence. */
  end(): void {
    if (this.#failed) throw this.#failed;
    if (this.pendingBytes > 0) {
      throw this.#fail(
        'FRAME_TRUNCATED',
        `the connection ended inside a frame: ${this.pendingBytes} bytes of an unfinished frame were left`,
      );
    }
  }

  #append(chunk: Uint8Array): void {
    const needed = this.#end - this.#start + chunk.length;
    if (this.#end + chunk.length > this.#buffer.length) {
      if (needed <= this.#buffer.length) {
        this.#buffer.copy(this.#buffer, 0, this.#start, this.#end);
      } else {
        const grown = Buffer.allocUnsafe(Math.max(needed, this.#buffer.length * 2, 64 * 1024));
        this.#buffer.copy(grown, 0, this.#start, this.#end);
        this.#buffer = grown;
      }
      this.#end -= this.#start;
      this.#start = 0;
    }
    this.#buffer.set(chunk, this.#end);
    this.#end += chunk.length;
  }

  #parse(payload: Uint8Array): unknown {
    let text: string;
    try {
      text = utf8.decode(payload);
    } catch (cause) {
      throw this.#fail('FRAME_INVALID', 'received a frame that is not valid UTF-8', cause);
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (cause) {
      throw this.#fail(
        'FRAME_INVALID',
        `received a frame that is not JSON: ${text.slice(0, 60)}`,
        cause,
      );
    }
  }

  #fail(
    code: 'FRAME_TOO_LARGE' | 'FRAME_TRUNCATED' | 'FRAME_INVALID',
    message: string,
    cause?: unknown,
  ) {
    this.#failed = new IronClawError(code, message, { cause });
    return this.#failed;
  }
}
