// The network probe's client side: raw TCP, HTTP and SOCKS5 by hand (a library client would
// normalise away the odd requests an attack is made of), UDP and DNS. Every call ends by its
// deadline and reports what it met as text, never throws.
import { createSocket } from 'node:dgram';
import { connect, isIPv6, type Socket } from 'node:net';

/** How long one attempt may take: a refusal or a missing route answers long before. */
const ATTEMPT_MS = 5000;

export type Opened = { ok: true; socket: Socket } | { ok: false; why: string };

function errno(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  return code ?? (error instanceof Error ? error.message : String(error));
}

/** A TCP connection, or why there is none. */
export function openTcp(host: string, port: number): Promise<Opened> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: ATTEMPT_MS });
    socket.once('connect', () => {
      socket.setTimeout(ATTEMPT_MS);
      resolve({ ok: true, socket });
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve({ ok: false, why: 'no answer (timed out)' });
    });
    socket.once('error', (error) => resolve({ ok: false, why: `connect ${errno(error)}` }));
  });
}

/**
 * Reads one HTTP response head and its body (content-length, or until close) from a socket that
 * may carry more: what is left over stays in the reader for the next one.
 */
export class ResponseReader {
  private buffer = Buffer.alloc(0);
  private ended = false;
  private wake: (() => void) | undefined;

  constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.wake?.();
    });
    const end = (): void => {
      this.ended = true;
      this.wake?.();
    };
    socket.on('end', end).on('close', end).on('error', end).on('timeout', end);
  }

  private async until(ready: () => boolean): Promise<boolean> {
    while (!ready()) {
      if (this.ended) return false;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    return true;
  }

  /**
   * Status line and body text, or null when the connection ended first. The answer to a
   * CONNECT (`connect`) has no body when it is a 200: the tunnel starts there.
   */
  async response(connect = false): Promise<{ status: number; body: string } | null> {
    if (!(await this.until(() => this.buffer.includes('\r\n\r\n')))) return null;
    const headEnd = this.buffer.indexOf('\r\n\r\n');
    const head = this.buffer.subarray(0, headEnd).toString('latin1');
    this.buffer = this.buffer.subarray(headEnd + 4);
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
    if (connect && status === 200) return { status, body: '' };
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1];
    if (length === undefined) await this.until(() => false);
    else await this.until(() => this.buffer.length >= Number(length));
    const size = length === undefined ? this.buffer.length : Number(length);
    const body = this.buffer.subarray(0, size).toString('utf8');
    this.buffer = this.buffer.subarray(size);
    return { status, body };
  }

  /** `n` raw bytes (a SOCKS reply), or null when the connection ended first. */
  async bytes(n: number): Promise<Buffer | null> {
    if (!(await this.until(() => this.buffer.length >= n))) return null;
    const out = this.buffer.subarray(0, n);
    this.buffer = this.buffer.subarray(n);
    return out;
  }
}

/** A response in one line: its status and the first line of its body. */
export function describe(response: { status: number; body: string } | null): string {
  if (!response) return 'the connection closed without an answer';
  return `${response.status} ${response.body.split('\n')[0]?.slice(0, 240) ?? ''}`.trim();
}

/** `host:port` as a request target: IPv6 addresses in brackets. */
export function authority(host: string, port: number): string {
  return `${isIPv6(host) ? `[${host}]` : host}:${port}`;
}

/** SOCKS5 reply codes (RFC 1928 §6), for the report. */
const SOCKS_REPLIES = [
  'succeeded',
  'general failure',
  'not allowed by ruleset',
  'network unreachable',
  'host unreachable',
  'connection refused',
  'TTL expired',
  'command not supported',
  'address type not supported',
];

/** A SOCKS5 CONNECT (no authentication) to an IPv4 address or a name; the reply code's name. */
export async function socksConnect(
  socket: Socket,
  reader: ResponseReader,
  host: string,
  port: number,
): Promise<{ ok: boolean; why: string }> {
  socket.write(Buffer.from([5, 1, 0]));
  const chosen = await reader.bytes(2);
  if (!chosen || chosen[1] !== 0) return { ok: false, why: 'SOCKS greeting refused' };
  const v4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(host);
  const address = v4
    ? Buffer.from([1, ...v4.slice(1).map(Number)])
    : Buffer.concat([Buffer.from([3, Buffer.byteLength(host)]), Buffer.from(host)]);
  const portBytes = Buffer.from([port >> 8, port & 0xff]);
  socket.write(Buffer.concat([Buffer.from([5, 1, 0]), address, portBytes]));
  const reply = await reader.bytes(10);
  if (!reply) return { ok: false, why: 'the connection closed without a SOCKS reply' };
  const code = reply[1] ?? 1;
  return { ok: code === 0, why: `SOCKS reply ${code} (${SOCKS_REPLIES[code] ?? 'unknown'})` };
}

/**
 * Sends one datagram from a connected UDP socket and waits for one back: a reply's text, or why
 * there is none (a port with no listener answers ECONNREFUSED; no route, ENETUNREACH at once).
 */
export function udpExchange(
  host: string,
  port: number,
  payload: Buffer,
): Promise<{ reply: Buffer } | { why: string }> {
  return new Promise((resolve) => {
    const socket = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
    const finish = (result: { reply: Buffer } | { why: string }): void => {
      clearTimeout(timer);
      socket.close();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ why: 'no answer (timed out)' }), ATTEMPT_MS);
    socket.once('message', (reply) => finish({ reply }));
    socket.once('error', (error) => finish({ why: errno(error) }));
    // A connect that fails (no route) calls back with the error, though the types say nothing.
    socket.connect(port, host, (...args: unknown[]) => {
      if (args[0]) return finish({ why: errno(args[0]) });
      socket.send(payload, (error) => {
        if (error) finish({ why: errno(error) });
      });
    });
  });
}

/** A DNS query (RFC 1035 §4) for the A record of `name`, recursion desired. */
export function dnsQuery(name: string): Buffer {
  const labels = name.split('.').map((label) => {
    const bytes = Buffer.from(label);
    return Buffer.concat([Buffer.from([bytes.length]), bytes]);
  });
  const header = Buffer.from([0x1c, 0x4e, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
  return Buffer.concat([header, ...labels, Buffer.from([0, 0, 1, 0, 1])]);
}

/** The IPv4 address of the last answer of a DNS reply, if it ends with an A record. */
export function lastAnswer(reply: Buffer): string | undefined {
  if (reply.length < 16 || reply.readUInt16BE(6) === 0) return undefined;
  if (reply.readUInt16BE(reply.length - 6) !== 4) return undefined;
  return [...reply.subarray(reply.length - 4)].join('.');
}
