import { type FileHandle, open } from 'node:fs/promises';
import { Duplex } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';

/** One read from the port: a virtio-serial port hands over at most a few pages at a time. */
const READ_BYTES = 64 * 1024;
/** Waits between attempts to find a host on the port: short at first, then at most this. */
const FIRST_RETRY_MS = 20;
const MAX_RETRY_MS = 500;

/**
 * The guest agent's channel in a VM: a virtio-serial port (/dev/vportNpM) opened read-write.
 * Node cannot wrap a character device in a socket (libuv only polls sockets, pipes and ttys),
 * so reads and writes are plain blocking calls on libuv's thread pool.
 *
 * The port's semantics (drivers/char/virtio_console.c): a read returns 0 at once while no host
 * is connected, and 0 again when the host disconnects; both mean "end of this session".
 */
class DeviceStream extends Duplex {
  readonly #handle: FileHandle;
  readonly #buffer = Buffer.alloc(READ_BYTES);
  /** Bytes received in this session: an end before any data means no host was there yet. */
  received = 0;

  constructor(handle: FileHandle) {
    super({ allowHalfOpen: false });
    this.#handle = handle;
  }

  override _read(): void {
    this.#handle.read(this.#buffer, 0, READ_BYTES, null).then(
      ({ bytesRead }) => {
        if (bytesRead === 0) {
          this.push(null);
          return;
        }
        this.received += bytesRead;
        this.push(Buffer.from(this.#buffer.subarray(0, bytesRead)));
      },
      (error: Error) => this.destroy(error),
    );
  }

  override _write(chunk: Buffer, _encoding: string, done: (error?: Error | null) => void): void {
    void writeAll(this.#handle, chunk).then(() => done(), done);
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    // Not awaited: a read still blocked in the kernel holds the descriptor until it returns.
    this.#handle.close().catch(() => undefined);
    done(error);
  }
}

/** The port takes at most 32 KiB per write (and returns how much it took): loop until all. */
async function writeAll(handle: FileHandle, chunk: Buffer): Promise<void> {
  for (let offset = 0; offset < chunk.length;) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset, null);
    offset += bytesWritten;
  }
}

/**
 * Serves the port for as long as the guest runs: opens it, hands each session's stream to
 * `serve` and, when the session ends (the host closed its end or reconnects), closes and
 * reopens the port for the next one. While no host is connected, it retries with backoff.
 */
export async function serveDevice(
  path: string,
  serve: (stream: Duplex) => Promise<void>,
  log: (message: string) => void,
): Promise<never> {
  let wait = FIRST_RETRY_MS;
  for (;;) {
    let stream: DeviceStream | undefined;
    try {
      stream = new DeviceStream(await open(path, 'r+'));
      await serve(stream);
    } catch (error) {
      log(`port ${path}: ${error instanceof Error ? error.message : String(error)}`);
    }
    stream?.destroy();
    if ((stream?.received ?? 0) > 0) wait = FIRST_RETRY_MS;
    await delay(wait);
    wait = Math.min(wait * 2, MAX_RETRY_MS);
  }
}
