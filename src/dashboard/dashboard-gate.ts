import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export interface DashboardGateOptions {
  /** The port the dashboard is served on: Host and Origin must name it. */
  port: number;
  token: string;
}

export type DashboardVerdict = { ok: true } | { ok: false; status: 401 | 403; message: string };

/** The only names the dashboard answers to: loopback, as it is bound to 127.0.0.1 only. */
const LOOPBACK_NAMES = ['127.0.0.1', 'localhost'];

/**
 * Host and Origin first, on every request (the page too): a site that rebinds its DNS name to
 * 127.0.0.1 sends its own name in Host, and a page of another origin that posts here sends its
 * origin, so both are refused before the token is even looked at. Then, for the API, the token:
 * the page holds it in sessionStorage (it came in the URL's fragment, which is never sent over
 * the wire or logged) and sends it as a bearer token. A cookie would not do: cookies are not
 * bound to a port, so any other server on 127.0.0.1 the browser visits would receive it.
 */
export function checkDashboardRequest(
  headers: IncomingHttpHeaders,
  options: DashboardGateOptions & { needsToken: boolean },
): DashboardVerdict {
  const hosts = LOOPBACK_NAMES.map((name) => `${name}:${options.port}`);
  if (headers.host === undefined || !hosts.includes(headers.host.toLowerCase()))
    return {
      ok: false,
      status: 403,
      message: `Forbidden: the dashboard answers only to Host ${hosts.join(' or ')}, not ${JSON.stringify(headers.host ?? '')}; open the address \`ironclaw dashboard\` printed`,
    };
  const origin = headers.origin;
  if (origin !== undefined && !hosts.some((host) => origin.toLowerCase() === `http://${host}`))
    return {
      ok: false,
      status: 403,
      message: `Forbidden: requests from the page at ${JSON.stringify(origin)} are refused; only the dashboard's own page may call its API`,
    };
  if (!options.needsToken) return { ok: true };
  const match = /^Bearer\s+(\S+)\s*$/i.exec(headers.authorization ?? '');
  if (!match?.[1])
    return {
      ok: false,
      status: 401,
      message:
        'Unauthorized: no dashboard token; open the full address `ironclaw dashboard` printed (with its #token=…)',
    };
  if (!sameSecret(match[1], options.token))
    return {
      ok: false,
      status: 401,
      message:
        "Unauthorized: the token is not this dashboard's (it changes when the daemon restarts); run `ironclaw dashboard` again for the current address",
    };
  return { ok: true };
}

/** Constant-time comparison that does not leak the token's length either. */
function sameSecret(given: string, expected: string): boolean {
  const digest = (text: string): Buffer => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}
