import { connect } from 'node:net';
import type * as z from 'zod/mini';
import { IronClawError } from '../core/errors.js';
import type { PortConnectParamsSchema } from '../protocol/guest-api.js';
import type { RequestContext } from '../protocol/rpc-server.js';

/**
 * A published port's connection, the other way from net-bridge.ts: the host accepted a client,
 * and this joins it to 127.0.0.1:port in the box. Only the box's own loopback is dialled, so a
 * published port opens no route out of the box. Resolves when the connection has closed.
 */
export function connectPort(
  params: z.infer<typeof PortConnectParamsSchema>,
  context: RequestContext,
): Promise<Record<string, never>> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: params.port, allowHalfOpen: true });
    let connected = false;
    socket.once('connect', () => (connected = true));
    socket.on('data', (chunk: Buffer) => {
      if (context.emit('data', { data: chunk.toString('base64') })) return;
      socket.pause();
      void context.drained().then(() => socket.resume());
    });
    // The host's side: its bytes, and its end (FIN) passed on, so half-open clients work.
    context.onInput((data, eof) => {
      if (socket.writableEnded) return;
      if (data && data.length > 0) socket.write(data);
      if (eof) socket.end();
    });
    // The box's server ended its side: the exchange is over (the request carries no half-close
    // back to the host but its end), so this side ends too and the host's client sees EOF.
    socket.once('end', () => socket.end());
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (connected) return;
      reject(
        new IronClawError(
          'NOT_FOUND',
          `nothing accepts connections on 127.0.0.1:${params.port} in the box (${error.code ?? error.message}); start the server first`,
        ),
      );
    });
    socket.once('close', () => resolve({}));
    context.signal.addEventListener('abort', () => socket.destroy(), { once: true });
  });
}
