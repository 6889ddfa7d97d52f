import type { Socket } from 'node:net';

export interface TunnelEnd {
  /** Bytes written to the destination and read from it. */
  bytesUp: number;
  bytesDown: number;
  /** Why it ended other than by both sides closing: idle, reset, closed by the proxy. */
  error?: string;
}

/**
 * Joins a client and a destination socket, each direction ending on its own (half-close is
 * carried through), until both are done, either fails, or nothing moves for `idleMs`. Both
 * sockets are destroyed at the end, whatever ended it; `onEnd` is called once.
 */
export function tunnel(
  client: Socket,
  upstream: Socket,
  options: { idleMs: number; onEnd: (end: TunnelEnd) => void },
): void {
  let ended = 0;
  let error: string | undefined;
  let done = false;
  const finish = (why?: string): void => {
    if (done) return;
    done = true;
    error ??= why;
    client.destroy();
    upstream.destroy();
    options.onEnd({
      bytesUp: upstream.bytesWritten,
      bytesDown: upstream.bytesRead,
      ...(error === undefined ? {} : { error }),
    });
  };
  const halfDone = (): void => {
    ended += 1;
    if (ended === 2) finish();
  };
  for (const [from, to, name] of [
    [client, upstream, 'client'],
    [upstream, client, 'destination'],
  ] as const) {
    from.setTimeout(options.idleMs, () => finish(`idle for ${options.idleMs} ms`));
    from.on('error', (cause: NodeJS.ErrnoException) => {
      error ??= `${name} ${cause.code ?? cause.message}`;
    });
    from.on('close', (hadError: boolean) => {
      // A side that closed may have left data for the other to flush: end it, then finish.
      if (hadError || to.destroyed || to.writableFinished) finish();
      else to.end(() => finish());
    });
    from.pipe(to);
    // The write side of `to` is done once `from` ended and what was read is flushed to it.
    to.on('finish', halfDone);
  }
}

/** How long a refused client has to read its answer before its connection is cut. */
const LINGER_MS = 2000;

/**
 * Sends a last answer and closes: what the client still sends is read and dropped (closing
 * with unread data would reset the connection and could lose the answer), and the socket is
 * destroyed when the client closes its side, or after a short linger.
 */
export function answerAndClose(socket: Socket, answer: string | Buffer): void {
  if (socket.destroyed) return;
  socket.end(answer);
  socket.removeAllListeners('data');
  socket.on('data', () => undefined);
  socket.resume();
  socket.once('end', () => socket.destroy());
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}
