import type { IncomingMessage, ServerResponse } from 'node:http';
import { type ErrorCode, toIronClawError } from '../core/errors.js';

/** Headers of every answer: nothing is cached, framed, sniffed or loaded from elsewhere. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
};

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

export function sendProblem(res: ServerResponse, status: number, code: string, message: string) {
  sendJson(res, status, { error: { code, message } });
}

const STATUS_OF: Partial<Record<ErrorCode, number>> = {
  INVALID_ARGUMENT: 400,
  INVALID_ID: 400,
  PATH_OUTSIDE_SANDBOX: 400,
  FILE_ERROR: 400,
  NOT_FOUND: 404,
  SANDBOX_NOT_FOUND: 404,
  SANDBOX_CLOSED: 410,
  CHANNEL_CLOSED: 410,
  TIMEOUT: 504,
};

/** An error as an answer: the client's mistakes as 4xx, anything else as 500 with its words. */
export function sendError(res: ServerResponse, error: unknown): void {
  const failure = toIronClawError(error);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendProblem(res, STATUS_OF[failure.code] ?? 500, failure.code, failure.message);
}

/**
 * A request body of at most `maxBytes`, or undefined past it: reading stops there, and the
 * caller answers 413 and closes the connection.
 */
export function readSmallBody(req: IncomingMessage, maxBytes: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      req.off('data', onData).pause();
      resolve(undefined);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}
