import { createConnection, type Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import * as z from 'zod/mini';
import { IronClawError } from '../../core/errors.js';

/** A QMP line longer than this is refused: QEMU's answers to our commands are small. */
const MAX_LINE_BYTES = 1024 * 1024;

const ReplySchema = z.union([
  z.object({ return: z.unknown(), id: z.optional(z.number()) }),
  z.object({
    error: z.object({ class: z.string(), desc: z.string() }),
    id: z.optional(z.number()),
  }),
]);

/**
 * A small client for QEMU's machine protocol (QMP) on its Unix socket: line-delimited JSON,
 * a greeting, `qmp_capabilities` before anything else, then commands whose replies carry the
 * id we sent; events (`{"event": …}`) can arrive between them and are skipped. QEMU's output is
 * parsed like any other input from outside: capped, then checked by a schema.
 */
export class QmpClient {
  readonly #socket: Socket;
  readonly #pending = new Map<
    number,
    { resolve: (reply: z.infer<typeof ReplySchema>) => void; reject: (error: Error) => void }
  >();
  #buffer = '';
  #nextId = 1;
  #closed: IronClawError | undefined;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.#receive(chunk));
    socket.on('error', () => undefined); // QEMU exiting resets the socket; 'close' follows
    socket.on('close', () =>
      this.#fail(new IronClawError('CHANNEL_CLOSED', 'QMP connection closed')),
    );
  }

  /** Connects (retrying while QEMU has not made the socket yet) and negotiates capabilities. */
  static async connect(path: string, signal: AbortSignal): Promise<QmpClient> {
    for (;;) {
      signal.throwIfAborted();
      const socket = await new Promise<Socket | undefined>((resolve) => {
        const attempt = createConnection(path);
        attempt.once('connect', () => resolve(attempt));
        attempt.once('error', () => resolve(undefined));
      });
      if (socket) {
        const client = new QmpClient(socket);
        await client.execute('qmp_capabilities', {}, signal);
        return client;
      }
      await delay(20, undefined, { signal });
    }
  }

  /** Runs one command and returns its `return` value; a QMP error rejects with its class. */
  async execute(
    command: string,
    args: Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<unknown> {
    if (this.#closed) throw this.#closed;
    const id = this.#nextId++;
    const reply = new Promise<z.infer<typeof ReplySchema>>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
    });
    this.#socket.write(`${JSON.stringify({ execute: command, arguments: args, id })}\n`);
    try {
      const answer = await reply;
      if ('error' in answer) {
        throw new IronClawError(
          'INTERNAL',
          `QMP ${command} failed: ${answer.error.class}: ${answer.error.desc}`,
        );
      }
      return answer.return;
    } finally {
      this.#pending.delete(id);
    }
  }

  close(): void {
    this.#socket.destroy();
  }

  #receive(chunk: string): void {
    this.#buffer += chunk;
    if (this.#buffer.length > MAX_LINE_BYTES && !this.#buffer.includes('\n')) {
      this.#fail(new IronClawError('PROTOCOL_ERROR', 'QMP sent an over-long line'));
      this.#socket.destroy();
      return;
    }
    for (let end = this.#buffer.indexOf('\n'); end >= 0; end = this.#buffer.indexOf('\n')) {
      const line = this.#buffer.slice(0, end).trim();
      this.#buffer = this.#buffer.slice(end + 1);
      if (line === '') continue;
      let message: unknown;
      try {
        message = JSON.parse(line);
      } catch {
        continue; // not JSON: ignore rather than trust
      }
      const parsed = ReplySchema.safeParse(message);
      // The greeting ({"QMP": …}) and events have no reply shape; replies without an id are ours
      // only before capabilities, which we send with an id anyway.
      if (parsed.success && parsed.data.id !== undefined)
        this.#pending.get(parsed.data.id)?.resolve(parsed.data);
    }
  }

  #fail(error: IronClawError): void {
    this.#closed ??= error;
    for (const { reject } of this.#pending.values()) reject(error);
    this.#pending.clear();
  }
}
