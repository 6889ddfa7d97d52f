import { connect, type Socket } from 'node:net';
import { IronClawError } from '../core/errors.js';

/**
 * Opens a TCP connection to an address the proxy checked: an IP literal, never a name, so
 * nothing between the check and the connect can resolve it again.
 */
export type Dialer = (address: string, port: number, signal: AbortSignal) => Promise<Socket>;

export const tcpDialer: Dialer = (address, port, signal) =>
  new Promise<Socket>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    // Half-open: a tunnel carries each direction's end on its own (a client may shut down its
    // side and still read the answer).
    const socket = connect({ host: address, port, noDelay: true, allowHalfOpen: true });
    const onAbort = (): void => {
      socket.destroy();
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const onError = (error: NodeJS.ErrnoException): void => {
      signal.removeEventListener('abort', onAbort);
      reject(
        new IronClawError(
          'CHANNEL_CLOSED',
          `cannot connect to ${address}:${port} (${error.code ?? error.message})`,
          {
            cause: error,
          },
        ),
      );
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      signal.removeEventListener('abort', onAbort);
      socket.off('error', onError);
      // Errors after this point end in 'close', which the proxy handles; never a crash.
      socket.on('error', () => undefined);
      resolve(socket);
    });
  });
