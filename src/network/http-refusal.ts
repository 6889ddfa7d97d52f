import type { RefusalKind } from './egress-gate.js';

/** What an HTTP client is told for each kind of refusal: a status, and RFC 9209's error type. */
const STATUS: Record<RefusalKind, { status: number; text: string; proxyStatus: string }> = {
  invalid: { status: 400, text: 'Bad Request', proxyStatus: 'http_request_error' },
  'too-large': {
    status: 431,
    text: 'Request Header Fields Too Large',
    proxyStatus: 'http_request_error',
  },
  denied: { status: 403, text: 'Forbidden', proxyStatus: 'http_request_denied' },
  address: { status: 403, text: 'Forbidden', proxyStatus: 'destination_ip_prohibited' },
  unresolved: { status: 502, text: 'Bad Gateway', proxyStatus: 'dns_error' },
  unreachable: { status: 502, text: 'Bad Gateway', proxyStatus: 'destination_unavailable' },
  timeout: { status: 504, text: 'Gateway Timeout', proxyStatus: 'connection_timeout' },
};

export interface HttpRefusal {
  status: number;
  statusText: string;
  headers: Record<string, string>;
  body: string;
}

/**
 * A refusal as an HTTP response a tool shows and a model can act on: the reason is the body
 * (text, one line), and the Proxy-Status header (RFC 9209) says the same for programs. It
 * never reads like a network fault: a policy refusal is a 403 naming the rule to add.
 */
export function httpRefusal(kind: RefusalKind, reason: string): HttpRefusal {
  const { status, text, proxyStatus } = STATUS[kind];
  const body = `IronClaw egress proxy: ${reason}\n`;
  // A structured-field string: printable ASCII only, with " and \ escaped.
  const details = reason.replace(/[^\x20-\x7e]/g, '?').replace(/["\\]/g, '\\$&');
  return {
    status,
    statusText: text,
    headers: {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
      'proxy-status': `ironclaw; error=${proxyStatus}; details="${details}"`,
      connection: 'close',
    },
    body,
  };
}

/** The same response as raw bytes, for a socket that is no longer in an HTTP server's hands. */
export function rawHttpRefusal(kind: RefusalKind, reason: string): string {
  const refusal = httpRefusal(kind, reason);
  const headers = Object.entries(refusal.headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  return `HTTP/1.1 ${refusal.status} ${refusal.statusText}\r\n${headers}\r\n${refusal.body}`;
}
