import type { IncomingMessage, ServerResponse } from 'node:http';
import { jsonRpcErrorBody } from './http-gate.js';
import { EDGE_BYTES, type ErrorId } from './request-id.js';

/** Largest request body accepted; a file write of 8 MiB in base64 fits with room to spare. */
export const MAX_BODY_BYTES = 16 * 1024 * 1024;

/** A body over the limit: dropped, but for a few bytes of each end, where its id may be. */
export interface TooLarge {
  tooLarge: true;
  head: string;
  tail: string;
}

/**
 * Reads a request body, at most `maxBytes`. A body over the limit resolves to `TooLarge`: what
 * arrives is drained and dropped (never stored, but for its first and last EDGE_BYTES) so the
 * client can read the 413 answer, up to `drainBytes`, past which the answer goes out at once
 * and the connection is closed.
 */
export function readBody(
  req: IncomingMessage,
  maxBytes: number,
  drainBytes = 4 * maxBytes,
): Promise<Buffer | TooLarge> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let head = Buffer.alloc(0);
    let tail = Buffer.alloc(0);
    const tooLarge = (): TooLarge => ({
      tooLarge: true,
      head: head.toString('utf8'),
      tail: tail.toString('utf8'),
    });
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > drainBytes) {
      resolve(tooLarge());
      return;
    }
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (head.length < EDGE_BYTES)
        head = Buffer.concat([head, chunk.subarray(0, EDGE_BYTES - head.length)]);
      tail = Buffer.from(Buffer.concat([tail, chunk.subarray(-EDGE_BYTES)]).subarray(-EDGE_BYTES));
      if (size <= maxBytes) chunks.push(chunk);
      else chunks.length = 0;
      if (size > drainBytes) {
        req.pause();
        resolve(tooLarge());
      }
    });
    req.once('end', () => resolve(size > maxBytes ? tooLarge() : Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

/**
 * A web-standard Request for the SDK's handlers. Its signal aborts when the client disconnects
 * before the response is complete, which is how a modern-era client cancels a call over HTTP.
 */
export function toWebRequest(
  req: IncomingMessage,
  res: ServerResponse,
  body: Buffer,
  base: string,
): Request {
  const gone = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) gone.abort(new Error('the client closed the connection'));
  });
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) headers.append(name, one);
  }
  const method = req.method ?? 'GET';
  return new Request(new URL(req.url ?? '/', base), {
    method,
    headers,
    signal: gone.signal,
    ...(method === 'GET' || method === 'HEAD' ? {} : { body }),
  });
}

/** Writes a web-standard Response, streaming its body (SSE) until it ends or the client leaves. */
export async function sendWebResponse(res: ServerResponse, response: Response): Promise<void> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  res.writeHead(response.status, headers);
  if (!response.body) {
    res.end();
    return;
  }
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  res.once('close', () => void reader.cancel().catch(() => undefined));
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!res.write(value))
        await new Promise<void>((resolve) => {
          res.once('drain', resolve);
          res.once('close', resolve);
        });
    }
  } catch {
    // The client left mid-stream (the reader was cancelled): nothing more to send.
  }
  res.end();
}

/**
 * An error answer whose JSON-RPC id is null (the SDK's transports, and our own answers before
 * a session is found, all write null) gets the request's id when it is known.
 */
export async function withRequestId(response: Response, id: ErrorId): Promise<Response> {
  if (id === null || response.status < 400) return response;
  if (!response.headers.get('content-type')?.includes('application/json')) return response;
  const text = await response.text();
  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch {
    answer = undefined;
  }
  const answered =
    typeof answer === 'object' &&
    answer !== null &&
    !Array.isArray(answer) &&
    'error' in answer &&
    'id' in answer &&
    answer.id === null
      ? JSON.stringify({ ...answer, id })
      : text;
  const headers = new Headers(response.headers);
  headers.delete('content-length');
  return new Response(answered, {
    status: response.status,
    statusText: response.statusText,
    headers,
  });
}

/** An error answer made here, before the SDK sees the request. */
export function sendError(
  res: ServerResponse,
  status: number,
  message: string,
  headers: Record<string, string> = {},
  id: ErrorId = null,
): void {
  const body = jsonRpcErrorBody(message, -32000, id);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}
