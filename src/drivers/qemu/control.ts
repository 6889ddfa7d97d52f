import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { IronClawError } from '../../core/errors.js';
import type { PortFloorWindow } from '../../host/port-floor.js';

/** The helper's lines are short; a longer one is refused (the guest is hostile). */
const MAX_LINE_BYTES = 4096;
/** Lines nobody has asked for yet that are kept; more is a misbehaving guest. */
const MAX_QUEUED_LINES = 16;
/** Bytes of host randomness a restored clone's kernel is reseeded with. */
const SEED_BYTES = 64;
/** How long putting the guest's port floor back may take (one line each way). */
const FLOOR_RESTORE_MS = 10_000;

/**
 * The host's end of the guest's restore helper (image-init.ts RESTORE_HELPER): a line protocol
 * on the VM's control port. The helper says `ready` once it serves the port; after a restore the
 * host sends `restore <epoch ns> <seed hex>` and the helper answers `restored` (or `error …`)
 * once the guest kernel's random generator is reseeded from the seed and its clock is set;
 * `floor <port>` sets the guest's unprivileged port floor and is answered `floor <old>`.
 */
export class VmControl {
  readonly #socket: Socket;
  readonly #lines: string[] = [];
  readonly #waiting: ((line: string | Error) => void)[] = [];
  #pending = '';
  #closed: Error | undefined;

  constructor(socket: Socket) {
    this.#socket = socket;
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => this.#receive(chunk));
    socket.on('error', () => undefined); // 'close' follows
    socket.on('close', () =>
      this.#fail(new IronClawError('CHANNEL_CLOSED', 'the VM closed its control port')),
    );
  }

  /** Waits for the helper's `ready`: it runs, and serves the port. */
  async ready(signal: AbortSignal): Promise<void> {
    const line = await this.#next(signal);
    if (line !== 'ready') throw protocolError(`expected "ready", got ${JSON.stringify(line)}`);
  }

  /**
   * Reseeds the guest kernel's random generator with fresh host randomness and sets the guest's
   * clock to the host's; resolves when the guest has done both.
   */
  async restore(signal: AbortSignal): Promise<void> {
    const epochNs = BigInt(Date.now()) * 1_000_000n;
    this.#socket.write(`restore ${epochNs} ${randomBytes(SEED_BYTES).toString('hex')}\n`);
    const line = await this.#next(signal);
    if (line !== 'restored') {
      throw new IronClawError(
        'SANDBOX_START_FAILED',
        `the guest could not reseed its random generator and clock after a restore: ${line.slice(0, 200)}`,
      );
    }
  }

  /**
   * Lowers the guest's unprivileged port floor (net.ipv4.ip_unprivileged_port_start, one for the
   * whole guest) to `port` until the window is closed, which puts the old floor back: the agent
   * binds its DNS stub in between, before any command runs.
   */
  async lowerPortFloor(port: number, signal: AbortSignal): Promise<PortFloorWindow> {
    const old = await this.#floor(port, signal);
    let closing: Promise<void> | undefined;
    return {
      close: () => {
        // Not under the start's signal: a floor left lowered must still be put back.
        closing ??= this.#floor(old, AbortSignal.timeout(FLOOR_RESTORE_MS)).then(() => undefined);
        return closing;
      },
    };
  }

  async #floor(port: number, signal: AbortSignal): Promise<number> {
    this.#socket.write(`floor ${port}\n`);
    const line = await this.#next(signal);
    const old = /^floor (\d{1,5})$/.exec(line)?.[1];
    if (old === undefined) {
      throw new IronClawError(
        'SANDBOX_START_FAILED',
        `the guest could not set its unprivileged port floor to ${port} for the DNS stub: ${line.slice(0, 200)}`,
      );
    }
    return Number(old);
  }

  close(): void {
    this.#socket.destroy();
  }

  #next(signal: AbortSignal): Promise<string> {
    const queued = this.#lines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.#closed) return Promise.reject(this.#closed);
    signal.throwIfAborted();
    return new Promise<string>((resolve, reject) => {
      const waiter = (line: string | Error): void => {
        signal.removeEventListener('abort', onAbort);
        if (line instanceof Error) reject(line);
        else resolve(line);
      };
      const onAbort = (): void => {
        this.#waiting.splice(this.#waiting.indexOf(waiter), 1);
        reject(signal.reason as Error);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(waiter);
    });
  }

  #receive(chunk: string): void {
    this.#pending += chunk;
    for (let end = this.#pending.indexOf('\n'); end >= 0; end = this.#pending.indexOf('\n')) {
      const line = this.#pending.slice(0, end);
      this.#pending = this.#pending.slice(end + 1);
      const waiter = this.#waiting.shift();
      if (waiter) waiter(line);
      else this.#lines.push(line);
    }
    const flood = this.#lines.length > MAX_QUEUED_LINES ? 'more lines than asked for' : undefined;
    const long = this.#pending.length > MAX_LINE_BYTES ? 'an over-long line' : undefined;
    if (flood ?? long) {
      this.#fail(protocolError(flood ?? long ?? ''));
      this.#socket.destroy();
    }
  }

  #fail(error: Error): void {
    this.#closed ??= error;
    for (const waiter of this.#waiting.splice(0)) waiter(error);
  }
}

function protocolError(what: string): IronClawError {
  return new IronClawError('PROTOCOL_ERROR', `the guest's restore helper sent ${what}`);
}
