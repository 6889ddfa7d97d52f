import { IronClawError } from '../core/errors.js';

/** `8080`, `127.0.0.1:8080`, `[::1]:8080` or `0.0.0.0:8080`; the host defaults to 127.0.0.1. */
export function parseListen(text: string): { host: string; port: number } {
  const match = /^(?:(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):)?(\d{1,5})$/.exec(text.trim());
  const port = Number(match?.[2]);
  if (!match || !Number.isSafeInteger(port) || port > 65535)
    throw new IronClawError(
      'INVALID_ARGUMENT',
      `invalid --http ${JSON.stringify(text)}: use a port, or host:port (for example 127.0.0.1:8765; port 0 picks a free one)`,
    );
  const host = match[1]?.replace(/^\[(.*)\]$/, '$1') ?? '127.0.0.1';
  return { host, port };
}
