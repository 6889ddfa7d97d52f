import type { ServerResponse } from 'node:http';

/** A page that stops reading is cut off past this much unsent data; it reconnects afresh. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/** A comment now and then keeps proxies and idle timeouts from closing a quiet stream. */
const KEEPALIVE_MS = 20_000;

export interface EventStream {
  send(event: string, json: string): void;
}

/** The open server-sent-event streams of a dashboard. */
export class StreamHub {
  readonly #streams = new Set<ServerResponse>();
  readonly #keepalive = setInterval(() => {
    for (const res of this.#streams) res.write(': keepalive\n\n');
  }, KEEPALIVE_MS).unref();

  get size(): number {
    return this.#streams.size;
  }

  open(res: ServerResponse, headers: Readonly<Record<string, string>>): EventStream {
    res.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      connection: 'keep-alive',
    });
    res.flushHeaders();
    this.#streams.add(res);
    res.once('close', () => this.#streams.delete(res));
    return { send: (event, json) => write(res, event, json) };
  }

  broadcast(event: string, json: string): void {
    for (const res of this.#streams) write(res, event, json);
  }

  close(): void {
    clearInterval(this.#keepalive);
    for (const res of this.#streams) res.end();
    this.#streams.clear();
  }
}

function write(res: ServerResponse, event: string, json: string): void {
  if (res.writableLength > MAX_BUFFERED_BYTES) {
    res.destroy();
    return;
  }
  // JSON.stringify never puts a raw newline in its output, so one data line holds it.
  res.write(`event: ${event}\ndata: ${json}\n\n`);
}
