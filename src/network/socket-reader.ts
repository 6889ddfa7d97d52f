import type { Socket } from 'node:net';
import { IronClawError } from '../core/errors.js';

/**
 * Reads exact byte counts from a socket in paused mode during a handshake, leaving whatever
 * follows buffered in the socket, where piping finds it (a tunnel's first bytes are not lost).
 * One 'readable' listener lives for the reader's whole life: Node emits 'readable' whenever a
 * listener is added to a socket with buffered bytes, so a listener per wait would spin.
 */
export class SocketReader {
  readonly #socket: Socket;
  readonly #signal: AbortSignal;
  #wake: (() => void) | undefined;
  readonly #onEvent = (): void => {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  };

  constructor(socket: Socket, signal: AbortSignal) {
    this.#socket = socket;
    this.#signal = signal;
    socket.on('readable', this.#onEvent);
    socket.on('end', this.#onEvent);
    socket.on('close', this.#onEvent);
    signal.addEventListener('abort', this.#onEvent);
  }

  /** Exactly `count` bytes; rejects when the socket ends first or the signal aborts. */
  async read(count: number): Promise<Buffer> {
    if (count === 0) return Buffer.alloc(0);
    for (;;) {
      this.#signal.throwIfAborted();
      if (this.#socket.readableLength >= count) return this.#socket.read(count) as Buffer;
      if (this.#socket.readableEnded || this.#socket.destroyed || this.#socket.closed)
        throw new IronClawError(
          'CHANNEL_CLOSED',
          'the client closed the connection during its handshake',
        );
      // Asks the stream for more; 'readable' follows when it arrives (or at end of stream).
      this.#socket.read(0);
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  /** Hands the socket back with no listener of the reader's left on it. */
  release(): void {
    this.#socket.off('readable', this.#onEvent);
    this.#socket.off('end', this.#onEvent);
    this.#socket.off('close', this.#onEvent);
    this.#signal.removeEventListener('abort', this.#onEvent);
    this.#wake = undefined;
  }
}
