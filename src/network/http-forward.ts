import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { openEgress, type RefusalKind } from './egress-gate.js';
import { refusalRecord, openedRecord, reportTo } from './egress-record.js';
import { closedSignal } from './http-connect.js';
import { httpRefusal, rawHttpRefusal } from './http-refusal.js';
import type { ProxyContext } from './proxy-context.js';
import { answerAndClose, tunnel } from './tunnel.js';

/** Headers that belong to one hop, never forwarded (RFC 9110 §7.6.1), and the proxy's own. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);

/** Raw header pairs without hop-by-hop ones, nor those the Connection header names. */
function endToEnd(raw: readonly string[], keep: readonly string[] = []): string[] {
  const named = new Set<string>();
  for (let i = 0; i < raw.length; i += 2)
    if (raw[i]?.toLowerCase() === 'connection')
      for (const token of (raw[i + 1] ?? '').split(',')) named.add(token.trim().toLowerCase());
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (keep.includes(name) || (!HOP_BY_HOP.has(name) && !named.has(name)))
      out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

/** The destination of an absolute-form request (`GET http://host:port/path`), or why not. */
function destination(
  req: IncomingMessage,
): { ok: true; url: URL; path: string } | { ok: false; reason: string } {
  let url: URL;
  try {
    url = new URL(req.url ?? '');
  } catch {
    return {
      ok: false,
      reason: `this is a proxy: send an absolute URL (GET http://host/path), not ${JSON.stringify((req.url ?? '').slice(0, 200))}`,
    };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'ws:')
    return {
      ok: false,
      reason: `only http:// URLs are forwarded; use CONNECT for ${url.protocol}//`,
    };
  // The path goes on as the client wrote it (URL would resolve dot segments and re-escape).
  const rest = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*([^#]*)/i.exec(req.url ?? '')?.[1] ?? '';
  return { ok: true, url, path: rest.startsWith('/') ? rest : `/${rest}` };
}

function refuse(res: ServerResponse, kind: RefusalKind, reason: string): void {
  const refusal = httpRefusal(kind, reason);
  res.shouldKeepAlive = false;
  res.writeHead(refusal.status, refusal.statusText, refusal.headers).end(refusal.body);
}

/**
 * Forwards one plain HTTP request over a fresh connection to the checked address, and its
 * response back. Every request is its own decision, so keep-alive from the client cannot carry
 * a second request to a host the first one's check did not cover. Host is rewritten from the
 * URL (RFC 9112 §3.2.2), so an allowed URL cannot name another virtual host behind it.
 */
export async function forwardHttp(
  req: IncomingMessage,
  res: ServerResponse,
  context: ProxyContext,
): Promise<void> {
  context.established(req.socket);
  const started = performance.now();
  const target = destination(req);
  const port = target.ok ? Number(target.url.port || 80) : 0;
  const base = { sandbox: context.gate.sandbox, protocol: 'http' as const, port };
  if (!target.ok) {
    reportTo(context.onConnection, {
      ...base,
      host: '',
      decision: 'denied',
      reason: target.reason,
      bytesUp: 0,
      bytesDown: 0,
      durationMs: 0,
    });
    return refuse(res, 'invalid', target.reason);
  }
  const abort = new AbortController();
  res.once('close', () => abort.abort());
  const gate = await openEgress(
    { host: target.url.hostname, port, protocol: 'http' },
    context.gate,
    AbortSignal.any([context.signal, abort.signal]),
  ).catch(() => undefined);
  if (!gate) return void res.destroy();
  if (!gate.ok) {
    reportTo(context.onConnection, refusalRecord({ ...base, host: gate.host }, gate, started));
    return refuse(res, gate.kind, gate.reason);
  }
  const { socket } = gate;
  context.track(socket);
  socket.setTimeout(context.idleMs, () =>
    socket.destroy(new Error(`idle for ${context.idleMs} ms`)),
  );
  const headers = [...endToEnd(req.rawHeaders), 'Host', target.url.host, 'Connection', 'close'];
  const upstream = httpRequest({
    createConnection: () => socket,
    method: req.method,
    path: target.path,
    headers,
    setHost: false,
  });
  let failure: string | undefined;
  upstream.on('error', (error) => {
    failure ??= error.message;
    if (!res.headersSent)
      refuse(res, 'unreachable', `${gate.host}:${port} (${gate.address}) failed: ${error.message}`);
    else res.destroy();
  });
  upstream.on('response', (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.statusMessage, endToEnd(answer.rawHeaders));
    answer.pipe(res);
    answer.on('error', () => res.destroy());
  });
  res.once('close', () => {
    if (!res.writableFinished) failure ??= 'the client went away';
    upstream.destroy();
    socket.destroy();
    reportTo(
      context.onConnection,
      openedRecord(base, gate, started, {
        bytesUp: socket.bytesWritten,
        bytesDown: socket.bytesRead,
        error: failure,
      }),
    );
  });
  req.pipe(upstream);
}

/**
 * A plain-HTTP Upgrade (a `ws://` WebSocket through the proxy): checked like any request, then
 * the request is sent on as it came (Upgrade and Connection kept) and the two sockets joined.
 */
export async function forwardUpgrade(
  req: IncomingMessage,
  client: Socket,
  head: Buffer,
  context: ProxyContext,
): Promise<void> {
  context.established(client);
  const started = performance.now();
  const target = destination(req);
  if (!target.ok) return answerAndClose(client, rawHttpRefusal('invalid', target.reason));
  const port = Number(target.url.port || 80);
  const gate = await openEgress(
    { host: target.url.hostname, port, protocol: 'http' },
    context.gate,
    AbortSignal.any([context.signal, closedSignal(client)]),
  ).catch(() => undefined);
  if (!gate) return void client.destroy();
  const base = { sandbox: context.gate.sandbox, protocol: 'http' as const, host: gate.host, port };
  if (!gate.ok) {
    reportTo(context.onConnection, refusalRecord(base, gate, started));
    return answerAndClose(client, rawHttpRefusal(gate.kind, gate.reason));
  }
  context.track(gate.socket);
  const headers = endToEnd(req.rawHeaders, ['connection', 'upgrade']);
  const lines = [`${req.method} ${target.path} HTTP/1.1`, `Host: ${target.url.host}`];
  for (let i = 0; i + 1 < headers.length; i += 2) lines.push(`${headers[i]}: ${headers[i + 1]}`);
  gate.socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  gate.socket.write(head);
  tunnel(client, gate.socket, {
    idleMs: context.idleMs,
    onEnd: (end) => reportTo(context.onConnection, openedRecord(base, gate, started, end)),
  });
}
