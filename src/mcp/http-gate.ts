import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import {
  localhostAllowedHostnames,
  validateHostHeader,
  validateOriginHeader,
} from '@modelcontextprotocol/server';

/** The one path the server answers on. */
export const MCP_PATH = '/mcp';

export interface GateOptions {
  /** Hostnames (no port) that Host and Origin may name; IPv6 in brackets. */
  allowedHostnames: readonly string[];
  /** The bearer token every request must carry. */
  token: string;
}

export type GateVerdict =
  { ok: true } | { ok: false; status: number; message: string; headers?: Record<string, string> };

/**
 * The checks every HTTP request passes before any MCP code sees it, in this order: the path;
 * Host and Origin against the allow-list, so a web page that rebinds a DNS name to 127.0.0.1 (or
 * posts from its own origin) is refused before it learns anything; then the bearer token.
 */
export function checkRequest(
  url: string | undefined,
  headers: IncomingHttpHeaders,
  options: GateOptions,
): GateVerdict {
  const path = (url ?? '/').split('?')[0];
  if (path !== MCP_PATH)
    return { ok: false, status: 404, message: `Not found: the MCP endpoint is ${MCP_PATH}` };
  const allowed = [...options.allowedHostnames];
  const host = validateHostHeader(headers.host, allowed);
  if (!host.ok) return { ok: false, status: 403, message: `Forbidden: ${host.message}` };
  const origin = validateOriginHeader(headers.origin, allowed);
  if (!origin.ok) return { ok: false, status: 403, message: `Forbidden: ${origin.message}` };
  const authorization = headers.authorization;
  if (authorization === undefined) {
    return {
      ok: false,
      status: 401,
      message: 'Unauthorized: send the bearer token in an Authorization header',
      headers: { 'www-authenticate': 'Bearer realm="ironclaw"' },
    };
  }
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (!match?.[1] || !sameSecret(match[1], options.token)) {
    return {
      ok: false,
      status: 401,
      message: 'Unauthorized: the bearer token is not the one this server was started with',
      headers: { 'www-authenticate': 'Bearer realm="ironclaw", error="invalid_token"' },
    };
  }
  return { ok: true };
}

/** Constant-time comparison that does not leak the token's length either. */
function sameSecret(given: string, expected: string): boolean {
  const digest = (text: string): Buffer => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** Loopback names, the address the server is bound to (unless a wildcard) and any extra names. */
export function allowedHostnames(bindHost: string, extra: readonly string[] = []): string[] {
  const names = new Set(localhostAllowedHostnames());
  const wildcard = bindHost === '0.0.0.0' || bindHost === '::' || bindHost === '[::]';
  if (!wildcard)
    names.add(bindHost.includes(':') && !bindHost.startsWith('[') ? `[${bindHost}]` : bindHost);
  for (const name of extra) names.add(name.toLowerCase());
  return [...names];
}

/** A JSON-RPC error as an HTTP response body, as MCP's Streamable HTTP transport answers. */
export function jsonRpcErrorBody(
  message: string,
  code = -32000,
  id: string | number | null = null,
): string {
  return JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id });
}
