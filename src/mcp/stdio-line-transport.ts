import type { Readable, Writable } from 'node:stream';
import {
  type JSONRPCMessage,
  parseJSONRPCMessage,
  serializeMessage,
  type Transport,
} from '@modelcontextprotocol/server';

/** Largest message accepted on stdin; the same cap as an HTTP request body. */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

type ErrorId = string | number | null;

/**
 * MCP's stdio framing (one JSON-RPC message per line) with answers for bad input. The SDK's own
 * stdio transport drops a line that is not JSON-RPC without a word and closes the connection on
 * an oversized one; this one answers -32700 (parse error) or -32600 (invalid request), as
 * JSON-RPC asks, discards an oversized line as it streams past (never buffering more than the
 * cap), and goes on reading, so one bad message never ends the session.
 */
export class StdioLineTransport implements Transport {
  onclose?: (() => void) | undefined;
  onerror?: ((error: Error) => void) | undefined;
  onmessage?: (<T extends JSONRPCMessage>(message: T) => void) | undefined;

  readonly #input: Readable;
  readonly #output: Writable;
  readonly #maxBytes: number;
  #chunks: Buffer[] = [];
  #size = 0;
  /** While an oversized line streams past: its first bytes, for the id of the answer. */
  #discarding: { head: Buffer; tail: Buffer; bytes: number } | undefined;
  #closed = false;
  #markClosed: () => void = () => undefined;
  /** Resolves when the connection ends (stdin closed, or close() called), whoever owns onclose. */
  readonly closed = new Promise<void>((resolve) => {
    this.#markClosed = resolve;
  });

  constructor(input: Readable, output: Writable, options: { maxMessageBytes?: number } = {}) {
    this.#input = input;
    this.#output = output;
    this.#maxBytes = options.maxMessageBytes ?? MAX_MESSAGE_BYTES;
  }

  async start(): Promise<void> {
    this.#input.on('data', this.#onData);
    this.#input.on('end', this.#onEnd);
    this.#input.on('close', this.#onEnd);
    this.#input.on('error', this.#onError);
    this.#output.on('error', this.#onError);
  }

  async send(message: JSONRPCMessage): Promise<void> {
    if (this.#closed) throw new Error('the stdio connection is closed');
    if (!this.#output.write(serializeMessage(message))) {
      await new Promise<void>((resolve) => this.#output.once('drain', resolve));
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#input.off('data', this.#onData);
    this.#input.off('end', this.#onEnd);
    this.#input.off('close', this.#onEnd);
    this.#input.pause();
    this.#chunks = [];
    this.onclose?.();
    this.#markClosed();
  }

  readonly #onEnd = (): void => void this.close();
  readonly #onError = (error: Error): void => {
    this.onerror?.(error);
    // A broken stdout (the client went away) ends the connection: nothing can be answered.
    if ((error as NodeJS.ErrnoException).code === 'EPIPE') void this.close();
  };

  readonly #onData = (chunk: Buffer): void => {
    if (this.#closed) return;
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(0x0a, start);
      const piece = chunk.subarray(start, newline === -1 ? chunk.length : newline);
      this.#take(piece);
      if (newline === -1) return;
      this.#endLine();
      start = newline + 1;
    }
  };

  #take(piece: Buffer): void {
    if (piece.length === 0) return;
    if (this.#discarding) {
      this.#discarding.bytes += piece.length;
      this.#discarding.tail = Buffer.concat([this.#discarding.tail, piece]).subarray(-256);
      return;
    }
    this.#chunks.push(piece);
    this.#size += piece.length;
    if (this.#size > this.#maxBytes) {
      const whole = Buffer.concat(this.#chunks);
      this.#discarding = {
        head: whole.subarray(0, 256),
        tail: whole.subarray(-256),
        bytes: whole.length,
      };
      this.#chunks = [];
      this.#size = 0;
    }
  }

  #endLine(): void {
    if (this.#discarding) {
      const { head, tail, bytes } = this.#discarding;
      this.#discarding = undefined;
      this.#reply(
        guessId(head.toString('utf8'), tail.toString('utf8')),
        -32600,
        `Invalid Request: a message of ${bytes} bytes is larger than the ${this.#maxBytes}-byte limit; send big files in parts`,
      );
      return;
    }
    const line = Buffer.concat(this.#chunks).toString('utf8').replace(/\r$/, '');
    this.#chunks = [];
    this.#size = 0;
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      this.#reply(null, -32700, `Parse error: ${(error as Error).message}`);
      return;
    }
    let message: JSONRPCMessage;
    try {
      message = parseJSONRPCMessage(value);
    } catch {
      this.#reply(idOf(value), -32600, 'Invalid Request: not a JSON-RPC 2.0 message');
      return;
    }
    this.onmessage?.(message);
  }

  #reply(id: ErrorId, code: number, message: string): void {
    if (this.#closed) return;
    this.#output.write(`${JSON.stringify({ jsonrpc: '2.0', id, error: { code, message } })}\n`);
  }
}

function idOf(value: unknown): ErrorId {
  if (typeof value !== 'object' || value === null || !('id' in value)) return null;
  const id = value.id;
  return typeof id === 'string' || typeof id === 'number' ? id : null;
}

/**
 * Best effort, so the client's pending call ends at once instead of timing out: clients write
 * `"id"` first or last at the top level of a message, which are the bytes kept.
 */
function guessId(head: string, tail: string): ErrorId {
  const pattern = '"id"\\s*:\\s*(-?\\d{1,15}|"[^"\\\\]{0,128}")';
  const match =
    new RegExp(`${pattern}\\s*\\}\\s*$`).exec(tail) ??
    new RegExp(`^\\s*\\{\\s*(?:"jsonrpc"\\s*:\\s*"2\\.0"\\s*,\\s*)?${pattern}`).exec(head);
  if (!match?.[1]) return null;
  return JSON.parse(match[1]) as string | number;
}
