import type { IncomingMessage, ServerResponse } from 'node:http';
import { jsonRpcErrorBody } from './http-gate.js';

/** Largest request body accepted; a file write of 8 MiB in base64 fits with room to spare. */
export const MAX_BODY_BYTES = 16 * 1024 * 1024;

/**
 * Reads a request body, at most `maxBytes`. A body over the limit resolves `undefined`: what
 * arrives is drained and dropped (never stored) so the client can read the 413 answer, up to
 * `drainBytes`, past which the answer goes out at once and the connection is closed.
 */
export function readBody(
  req: IncomingMessage,
  maxBytes: number,
  drainBytes = 4 * maxBytes,
): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > drainBytes) {
      resolve(undefined);
      return;
    }
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) chunks.push(chunk);
      else chunks.length = 0;
      if (size > drainBytes) {
        req.pause();
        resolve(undefined);
      }
    });
    req.once('end', () => resolve(size > maxBytes ? undefined : Buffer.concat(chunks)));
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

/** An error answer made here, before the SDK sees the request. */
export function sendError(
  res: ServerResponse,
  status: number,
  message: string,
  headers: Record<string, string> = {},
): void {
  const body = jsonRpcErrorBody(message);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}
