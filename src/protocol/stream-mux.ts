import type { Duplex } from 'node:stream';
import type * as z from 'zod/mini';
import type { StreamFrameSchema } from './envelope.js';
import { STREAM_CHUNK_BYTES, STREAM_WINDOW_BYTES } from './limits.js';

type StreamFrame = z.infer<typeof StreamFrameSchema>;

/** Streams open at once on one channel; an open past this is refused (closed at once). */
export const MAX_STREAMS = 128;

export interface StreamMuxOptions {
  /** Sends one frame on the channel; false when the channel wants the sender to wait. */
  send: (frame: StreamFrame) => boolean;
  /** Resolves when the channel has room again. */
  drained: () => Promise<void>;
}

interface Stream {
  socket: Duplex;
  /** Bytes this side may still send before the peer grants more. */
  credit: number;
  /** Data read from the socket that the credit did not cover yet (at most one read's worth). */
  pending: Buffer[];
  /** The socket ended: an `eof` goes once `pending` is sent. */
  ending: boolean;
  /** Bytes received and not yet written through to the socket (what credit is owed for). */
  owed: number;
  /** The peer sent its `eof`. */
  remoteEnded: boolean;
  /** The socket closed cleanly: `close` goes once what it read is sent. */
  closing: boolean;
}

/**
 * Byte streams multiplexed over a framed channel, each joined to a local socket: the guest
 * agent of a VM opens one per connection to its egress port, and the host joins each to the
 * sandbox's egress proxy. Every stream has a credit window in each direction (a receiver grants
 * credit as the bytes leave it), so no side buffers more than the window per stream. The peer
 * is not trusted: a frame that breaks a stream's rules (data past the window, credit never owed,
 * a second open of a live id) closes that stream only; frames for a stream that is gone are
 * dropped, since a close may cross frames already on their way.
 */
export class StreamMux {
  readonly #options: StreamMuxOptions;
  readonly #streams = new Map<number, Stream>();
  #accept: ((id: number) => Duplex) | undefined;
  #nextId = 1;
  #closed = false;

  constructor(options: StreamMuxOptions) {
    this.#options = options;
  }

  /** Streams open now. */
  get size(): number {
    return this.#streams.size;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Takes the peer's opens from now on, joining each to the socket `connect` returns. */
  accept(connect: (id: number) => Duplex): void {
    this.#accept = connect;
  }

  /** Opens a stream to the peer for `socket`; false (and the socket destroyed) if it cannot. */
  open(socket: Duplex): boolean {
    if (this.#closed || this.#streams.size >= MAX_STREAMS) {
      socket.destroy();
      return false;
    }
    const id = this.#nextId++;
    this.#send({ t: 'stream', s: id, op: 'open' });
    this.#attach(id, socket);
    return true;
  }

  /** Handles one frame from the peer (already checked against StreamFrameSchema). */
  receive(frame: StreamFrame): void {
    if (this.#closed) return;
    const stream = this.#streams.get(frame.s);
    if (frame.op === 'open') {
      this.#opened(frame.s, stream);
      return;
    }
    if (!stream) return;
    switch (frame.op) {
      case 'data':
        this.#data(frame.s, stream, Buffer.from(frame.data ?? '', 'base64'));
        return;
      case 'credit':
        this.#credit(frame.s, stream, frame.n ?? 0);
        return;
      case 'eof':
        stream.remoteEnded = true;
        stream.socket.end();
        return;
      case 'close':
        this.#streams.delete(frame.s);
        // After the peer's eof, what it sent is still being written: finish that, then close.
        if (stream.remoteEnded) stream.socket.end(() => stream.socket.destroy());
        else stream.socket.destroy();
        return;
    }
  }

  /** Ends every stream (the channel is gone). Idempotent. */
  close(): void {
    this.#closed = true;
    for (const stream of this.#streams.values()) stream.socket.destroy();
    this.#streams.clear();
  }

  #opened(id: number, known: Stream | undefined): void {
    if (known) {
      this.#reset(id, known, `stream ${id} was opened twice`);
      return;
    }
    if (!this.#accept || this.#streams.size >= MAX_STREAMS) {
      this.#send({
        t: 'stream',
        s: id,
        op: 'close',
        reason: this.#accept
          ? `more than ${MAX_STREAMS} streams at once`
          : 'this side takes no streams',
      });
      return;
    }
    let socket: Duplex;
    try {
      socket = this.#accept(id);
    } catch (error) {
      this.#send({ t: 'stream', s: id, op: 'close', reason: String(error) });
      return;
    }
    this.#attach(id, socket);
  }

  #attach(id: number, socket: Duplex): void {
    const stream: Stream = {
      socket,
      credit: STREAM_WINDOW_BYTES,
      pending: [],
      ending: false,
      owed: 0,
      remoteEnded: false,
      closing: false,
    };
    this.#streams.set(id, stream);
    socket.on('data', (chunk: Buffer) => {
      stream.pending.push(chunk);
      this.#flush(id, stream);
    });
    socket.on('end', () => {
      stream.ending = true;
      this.#flush(id, stream);
    });
    socket.on('error', () => socket.destroy());
    // The end of both directions, or a failure: the peer closes its side too, after what this
    // side read is sent (a socket may close with data still waiting for credit).
    socket.on('close', (hadError: boolean) => {
      if (this.#streams.get(id) !== stream) return;
      if (hadError) stream.pending = [];
      stream.closing = true;
      this.#flush(id, stream);
    });
  }

  /** Sends what the credit covers; pauses the socket while anything is left or the channel is full. */
  #flush(id: number, stream: Stream): void {
    if (this.#streams.get(id) !== stream) return;
    while (stream.pending.length > 0 && stream.credit > 0) {
      const head = stream.pending[0] as Buffer;
      const size = Math.min(head.length, stream.credit, STREAM_CHUNK_BYTES);
      if (size === head.length) stream.pending.shift();
      else stream.pending[0] = head.subarray(size);
      stream.credit -= size;
      const room = this.#send({
        t: 'stream',
        s: id,
        op: 'data',
        data: head.subarray(0, size).toString('base64'),
      });
      if (!room) {
        stream.socket.pause();
        void this.#options.drained().then(() => this.#flush(id, stream));
        return;
      }
    }
    if (stream.pending.length > 0) {
      stream.socket.pause();
      return;
    }
    if (stream.ending) {
      stream.ending = false;
      this.#send({ t: 'stream', s: id, op: 'eof' });
    }
    if (stream.closing) {
      this.#streams.delete(id);
      this.#send({ t: 'stream', s: id, op: 'close' });
      return;
    }
    // Reads resume only while there is credit: what a read brings must be sendable.
    if (stream.credit === 0) stream.socket.pause();
    else stream.socket.resume();
  }

  #data(id: number, stream: Stream, data: Buffer): void {
    if (stream.remoteEnded) {
      this.#reset(id, stream, `stream ${id} sent data after its end`);
      return;
    }
    stream.owed += data.length;
    if (stream.owed > STREAM_WINDOW_BYTES) {
      this.#reset(
        id,
        stream,
        `stream ${id} sent more than its window of ${STREAM_WINDOW_BYTES} bytes`,
      );
      return;
    }
    stream.socket.write(data, (error) => {
      if (error || this.#streams.get(id) !== stream) return;
      stream.owed -= data.length;
      this.#send({ t: 'stream', s: id, op: 'credit', n: data.length });
    });
  }

  #credit(id: number, stream: Stream, bytes: number): void {
    stream.credit += bytes;
    if (stream.credit > STREAM_WINDOW_BYTES) {
      this.#reset(id, stream, `stream ${id} was granted credit it was never owed`);
      return;
    }
    this.#flush(id, stream);
  }

  /** The peer broke this stream's rules: close it, telling the peer why. */
  #reset(id: number, stream: Stream, reason: string): void {
    this.#streams.delete(id);
    stream.socket.destroy();
    this.#send({ t: 'stream', s: id, op: 'close', reason });
  }

  #send(frame: StreamFrame): boolean {
    if (this.#closed) return true;
    try {
      return this.#options.send(frame);
    } catch {
      // The channel closed under us; its owner closes this mux.
      return true;
    }
  }
}
