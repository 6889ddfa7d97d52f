import type { ServerContext } from '@modelcontextprotocol/server';

/** What one progress notification carries (MCP `notifications/progress` params, less the token). */
export interface ProgressUpdate {
  progress: number;
  total?: number;
  message: string;
}

export interface ExecProgressOptions {
  /** Sends one notification; a failure (the client went away) is ignored. */
  send: (update: ProgressUpdate) => Promise<void>;
  /** How often new output is reported. */
  intervalMs?: number;
  /** A notification goes out at least this often even without new output, as a heartbeat. */
  heartbeatMs?: number;
  /** The exec's time limit, reported as `total` so a client can show how much of it is used. */
  timeoutMs?: number;
  /** Bytes of the latest output each notification quotes. */
  tailBytes?: number;
}

/**
 * Reports a running exec to a client that asked for progress: every `intervalMs` with new output,
 * at least every `heartbeatMs` without. `progress` is the elapsed time in milliseconds (it only
 * grows, as MCP requires), `total` the time limit, and `message` the latest output so far.
 */
export class ExecProgress {
  readonly #options: Required<Omit<ExecProgressOptions, 'timeoutMs'>> & { timeoutMs?: number };
  readonly #started = performance.now();
  #tail = Buffer.alloc(0);
  #bytes = 0;
  #fresh = false;
  #lastSent = 0;
  #lastProgress = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: ExecProgressOptions) {
    this.#options = {
      intervalMs: 500,
      heartbeatMs: 5000,
      tailBytes: 2048,
      ...options,
    };
  }

  start(): void {
    this.#timer ??= setInterval(() => this.#tick(), this.#options.intervalMs);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Takes output as the command writes it (stdout and stderr alike, in arrival order). */
  onOutput(chunk: Buffer): void {
    this.#bytes += chunk.length;
    this.#fresh = true;
    const keep = this.#options.tailBytes;
    this.#tail =
      chunk.length >= keep
        ? Buffer.from(chunk.subarray(chunk.length - keep))
        : Buffer.concat([
            this.#tail.subarray(Math.max(0, this.#tail.length + chunk.length - keep)),
            chunk,
          ]);
  }

  #tick(): void {
    const now = performance.now();
    if (!this.#fresh && now - this.#lastSent < this.#options.heartbeatMs) return;
    const elapsed = Math.round(now - this.#started);
    const progress = Math.max(elapsed, this.#lastProgress + 1);
    this.#lastProgress = progress;
    this.#lastSent = now;
    this.#fresh = false;
    const seconds = (elapsed / 1000).toFixed(1);
    const header = `running for ${seconds} s, ${this.#bytes} bytes of output so far`;
    const tail = this.#tail.toString('utf8');
    this.#options
      .send({
        progress,
        ...(this.#options.timeoutMs === undefined ? {} : { total: this.#options.timeoutMs }),
        message: tail ? `${header}; latest output:\n${tail}` : header,
      })
      .catch(() => undefined);
  }
}

/**
 * The progress reporter of a tool call that runs a command, when its client asked for progress
 * (a `progressToken` in the request's `_meta`); undefined otherwise. Not started yet.
 */
export function progressFor(ctx: ServerContext, timeoutMs: number): ExecProgress | undefined {
  const token = ctx.mcpReq._meta?.progressToken;
  if (token === undefined) return undefined;
  return new ExecProgress({
    timeoutMs,
    send: (update) =>
      ctx.mcpReq.notify({
        method: 'notifications/progress',
        params: { progressToken: token, ...update },
      }),
  });
}
