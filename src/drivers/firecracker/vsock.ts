import { connect, type Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { type ErrorCode, IronClawError } from '../../core/errors.js';

/** Waits between attempts: short while the guest boots, then at most this. */
const FIRST_RETRY_MS = 10;
const MAX_RETRY_MS = 250;
/** How long Firecracker may take to answer a CONNECT before the attempt counts as "not yet". */
const ACK_TIMEOUT_MS = 1000;
/** `OK <u32>\n` is at most 14 bytes; a longer first line is not Firecracker's. */
const MAX_ACK_BYTES = 32;

export interface DialOptions {
  signal: AbortSignal;
  ackTimeoutMs?: number;
}

/**
 * Connects to a guest's AF_VSOCK `port` through Firecracker's hybrid vsock socket `udsPath`
 * (notes/vmm.md §1.5): connect, write `CONNECT <port>\n`, read `OK <host port>\n`, after which
 * the connection is a byte stream to the guest's listener. Until the guest listens, Firecracker
 * closes the connection instead of answering, so that (and a missing socket, and an answer that
 * does not come in time) means "not yet": the dial is retried with backoff until it works or
 * `signal` fires. A first line that is not `OK <number>` means the peer is not Firecracker's
 * vsock device, and fails at once.
 */
export async function dialHybridVsock(
  udsPath: string,
  port: number,
  options: DialOptions,
): Promise<Socket> {
  if (!Number.isInteger(port) || port < 0 || port > 0xffffffff)
    throw new IronClawError('INVALID_ARGUMENT', `vsock port ${port} is not a u32`);
  const { signal } = options;
  let wait = FIRST_RETRY_MS;
  let lastReason = 'no attempt was made';
  for (;;) {
    if (signal.aborted) throw gaveUp(signal, udsPath, port, lastReason);
    const attempt = await attemptConnect(udsPath, port, options);
    if (attempt.socket) return attempt.socket;
    // An attempt cut short by the signal says nothing about the guest: keep the one before.
    if (!signal.aborted) lastReason = attempt.reason;
    await delay(wait, undefined, { signal }).catch(() => undefined);
    wait = Math.min(wait * 2, MAX_RETRY_MS);
  }
}

type Attempt = { socket: Socket; reason?: undefined } | { socket?: undefined; reason: string };

/** One CONNECT: a connected socket, or why not yet; throws when the peer is not Firecracker. */
function attemptConnect(udsPath: string, port: number, options: DialOptions): Promise<Attempt> {
  const ackMs = options.ackTimeoutMs ?? ACK_TIMEOUT_MS;
  return new Promise<Attempt>((resolve, reject) => {
    const socket = connect(udsPath);
    let received = Buffer.alloc(0);
    let settled = false;
    const finish = (outcome: Attempt | Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal.removeEventListener('abort', onAbort);
      socket.off('readable', onReadable).off('error', onError).off('close', onClose);
      if (outcome instanceof Error || outcome.socket === undefined) socket.destroy();
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    const onAbort = (): void => finish({ reason: 'the dial was stopped' });
    const onError = (error: NodeJS.ErrnoException): void =>
      finish({ reason: `${udsPath}: ${error.code ?? error.message}` });
    const onClose = (): void =>
      finish({ reason: `Firecracker closed the connection: nothing listens on port ${port} yet` });
    // Read in paused mode ('readable'), so bytes after the acknowledgement stay buffered for the
    // caller, and the stream flows once the caller listens for 'data'.
    const onReadable = (): void => {
      for (
        let chunk = socket.read() as Buffer | null;
        chunk;
        chunk = socket.read() as Buffer | null
      )
        received = Buffer.concat([received, chunk]);
      const end = received.indexOf(0x0a);
      if (end < 0) {
        if (received.length > MAX_ACK_BYTES) finish(notFirecracker(udsPath, received));
        return;
      }
      const line = received.subarray(0, end).toString('latin1');
      if (!/^OK \d{1,10}$/.test(line)) {
        finish(notFirecracker(udsPath, received.subarray(0, end)));
        return;
      }
      // Bytes after the acknowledgement are the guest's: hand them back to the stream.
      const rest = received.subarray(end + 1);
      if (rest.length > 0) socket.unshift(rest);
      finish({ socket });
    };
    const timer = setTimeout(
      () => finish({ reason: `Firecracker did not answer CONNECT within ${ackMs} ms` }),
      ackMs,
    );
    options.signal.addEventListener('abort', onAbort, { once: true });
    socket.on('readable', onReadable).on('error', onError).on('close', onClose);
    socket.once('connect', () => socket.write(`CONNECT ${port}\n`));
  });
}

function notFirecracker(udsPath: string, reply: Buffer): IronClawError {
  return new IronClawError(
    'PROTOCOL_ERROR',
    `${udsPath} answered CONNECT with ${JSON.stringify(reply.subarray(0, MAX_ACK_BYTES).toString('latin1'))}, not "OK <port>": it is not a Firecracker vsock socket`,
  );
}

function gaveUp(signal: AbortSignal, udsPath: string, port: number, reason: string): IronClawError {
  const timeout = (signal.reason as Error | undefined)?.name === 'TimeoutError';
  const code: ErrorCode = timeout ? 'TIMEOUT' : 'ABORTED';
  return new IronClawError(
    code,
    `${timeout ? 'timed out' : 'stopped'} connecting to guest vsock port ${port} through ${udsPath}; last attempt: ${reason}`,
    { cause: signal.reason },
  );
}
