import type { Readable, Writable } from 'node:stream';
import {
  type JSONRPCMessage,
  parseJSONRPCMessage,
  serializeMessage,
  type Transport,
} from '@modelcontextprotocol/server';
import { LineSplitter } from './line-splitter.js';
import { type ErrorId, requestIdFromEdges, requestIdOf } from './request-id.js';

/** Largest message accepted on stdin; the same cap as an HTTP request body. */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

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
  readonly #splitter: LineSplitter;
  #closed = false;
  #markClosed: () => void = () => undefined;
  /** Resolves when the connection ends (stdin closed, or close() called), whoever owns onclose. */
  readonly closed = new Promise<void>((resolve) => {
    this.#markClosed = resolve;
  });

  constructor(input: Readable, output: Writable, options: { maxMessageBytes?: number } = {}) {
    this.#input = input;
    this.#output = output;
    const maxBytes = options.maxMessageBytes ?? MAX_MESSAGE_BYTES;
    this.#splitter = new LineSplitter({
      maxBytes,
      onLine: (line) => this.#onLine(line),
      onOversized: ({ bytes, head, tail }) =>
        this.#reply(
          requestIdFromEdges(head, tail),
          -32600,
          `Invalid Request: a message of ${bytes} bytes is larger than the ${maxBytes}-byte limit; send big files in parts`,
        ),
    });
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
    this.#splitter.clear();
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
    if (!this.#closed) this.#splitter.push(chunk);
  };

  #onLine(line: string): void {
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
      this.#reply(requestIdOf(value), -32600, 'Invalid Request: not a JSON-RPC 2.0 message');
      return;
    }
    this.onmessage?.(message);
  }

  #reply(id: ErrorId, code: number, message: string): void {
    if (this.#closed) return;
    this.#output.write(`${JSON.stringify({ jsonrpc: '2.0', id, error: { code, message } })}\n`);
  }
}
