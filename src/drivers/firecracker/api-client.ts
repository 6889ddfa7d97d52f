import { request } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import * as z from 'zod/mini';
import { type ErrorCode, IronClawError } from '../../core/errors.js';
import type { ApiRequest } from './api.js';

/** What a response may hold at most: the API answers with small JSON documents. */
const MAX_RESPONSE_BYTES = 64 * 1024;
/** Waits between attempts to reach a Firecracker that has not made its API socket yet. */
const FIRST_RETRY_MS = 5;
const MAX_RETRY_MS = 100;

const InstanceInfoSchema = z.object({
  app_name: z.string(),
  id: z.string(),
  state: z.enum(['Not started', 'Running', 'Paused']),
  vmm_version: z.string(),
});
export type InstanceInfo = z.infer<typeof InstanceInfoSchema>;

/**
 * A client of one Firecracker's API: HTTP/1.1 over its Unix socket (notes/vmm.md §1.2). Requests
 * go one at a time, in the order given, each waiting for Firecracker's answer: the VMM applies
 * pre-boot configuration in order, and a request that fails stops the ones queued after it from
 * running on a half-configured VM. Success is 204 with no body; anything else becomes an error
 * quoting Firecracker's `fault_message`.
 */
export class FirecrackerApiClient {
  readonly socketPath: string;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(socketPath: string) {
    this.socketPath = socketPath;
  }

  /** Sends `call` after every request sent before it; resolves on 204. */
  send(call: ApiRequest, options: { signal: AbortSignal }): Promise<void> {
    const sent = this.#queue.then(async () => {
      options.signal.throwIfAborted();
      const body = JSON.stringify(call.body);
      const response = await exchange(
        this.socketPath,
        call.method,
        call.path,
        body,
        options.signal,
      );
      if (response.status !== 204) throw refusal(`${call.method} ${call.path}`, response);
    });
    this.#queue = sent.catch(() => undefined);
    return sent;
  }

  /** GET /: the instance's id, state and version. */
  async describe(options: { signal: AbortSignal }): Promise<InstanceInfo> {
    const response = await exchange(this.socketPath, 'GET', '/', undefined, options.signal);
    if (response.status !== 200) throw refusal('GET /', response);
    const parsed = InstanceInfoSchema.safeParse(parseJson(response.text));
    if (!parsed.success) {
      throw new IronClawError(
        'PROTOCOL_ERROR',
        `Firecracker answered GET / with something other than its instance info: ${quote(response.text)}`,
      );
    }
    return parsed.data;
  }

  /**
   * Waits until Firecracker serves its API (it makes the socket a moment after it starts):
   * retries while the socket is missing or refuses connections, until `signal` fires.
   */
  async waitUntilServing(options: { signal: AbortSignal }): Promise<InstanceInfo> {
    let wait = FIRST_RETRY_MS;
    for (;;) {
      try {
        return await this.describe(options);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ECONNREFUSED') throw error;
      }
      await delay(wait, undefined, { signal: options.signal }).catch((error: Error) => {
        throw wrapAbort(error, options.signal, `Firecracker's API socket ${this.socketPath}`);
      });
      wait = Math.min(wait * 2, MAX_RETRY_MS);
    }
  }
}

interface Response {
  status: number;
  text: string;
}

function exchange(
  socketPath: string,
  method: string,
  path: string,
  body: string | undefined,
  signal: AbortSignal,
): Promise<Response> {
  return new Promise<Response>((resolve, reject) => {
    const headers: Record<string, string | number> = { Accept: 'application/json' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = Buffer.byteLength(body);
    }
    // agent: false, a connection of its own, closed after the answer: nothing pooled to go stale.
    const req = request({ socketPath, method, path, headers, agent: false, signal }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) {
          res.destroy();
          reject(
            new IronClawError(
              'PROTOCOL_ERROR',
              `Firecracker's answer to ${method} ${path} is over ${MAX_RESPONSE_BYTES} bytes`,
            ),
          );
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('error', (error) => reject(wrapAbort(error, signal, `${method} ${path}`)));
    req.end(body);
  });
}

/** The error for an answer other than success, quoting Firecracker's own words. */
function refusal(what: string, response: Response): IronClawError {
  const json = parseJson(response.text);
  const fault =
    json !== null && typeof json === 'object' && 'fault_message' in json
      ? json.fault_message
      : undefined;
  const detail =
    typeof fault === 'string'
      ? JSON.stringify(fault)
      : `(no fault_message) ${quote(response.text) || '(empty body)'}`;
  return new IronClawError(
    'INTERNAL',
    `Firecracker refused ${what} (HTTP ${response.status}): ${detail}`,
  );
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function quote(text: string): string {
  return JSON.stringify(text.length > 500 ? `${text.slice(0, 500)}…` : text);
}

/** An aborted wait as TIMEOUT or ABORTED (what fired the signal), other errors as they are. */
function wrapAbort(error: Error, signal: AbortSignal, what?: string): Error {
  if (!signal.aborted) return error;
  const timeout = (signal.reason as Error | undefined)?.name === 'TimeoutError';
  const code: ErrorCode = timeout ? 'TIMEOUT' : 'ABORTED';
  return new IronClawError(
    code,
    `${timeout ? 'timed out' : 'aborted'} waiting for ${what ?? 'the Firecracker API'}`,
    { cause: error },
  );
}
