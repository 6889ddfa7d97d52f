import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { openEgress } from './egress-gate.js';
import { refusalRecord, openedRecord, reportTo } from './egress-record.js';
import { rawHttpRefusal } from './http-refusal.js';
import type { ProxyContext } from './proxy-context.js';
import { answerAndClose, tunnel } from './tunnel.js';

/** `host:port` or `[v6]:port`, the authority-form of a CONNECT request. */
function authority(text: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (!match) return undefined;
  return { host: match[1] ?? match[2] ?? '', port: Number(match[3]) };
}

/**
 * An HTTP CONNECT tunnel: checked, dialed at the checked address, answered 200, then joined.
 * Whatever the client sent after its CONNECT request (`head`, and all that follows) is tunnel
 * data for the destination and is never parsed here: a second CONNECT inside the tunnel is the
 * destination's to answer, and the proxy opens nothing for it.
 */
export async function handleConnect(
  req: IncomingMessage,
  client: Socket,
  head: Buffer,
  context: ProxyContext,
): Promise<void> {
  const started = performance.now();
  const target = authority(req.url ?? '');
  const base = { sandbox: context.gate.sandbox, protocol: 'connect' as const };
  if (!target) {
    const reason = `CONNECT needs host:port, not ${JSON.stringify((req.url ?? '').slice(0, 200))}`;
    reportTo(context.onConnection, {
      ...base,
      host: (req.url ?? '').slice(0, 300),
      port: 0,
      decision: 'denied',
      reason,
      bytesUp: 0,
      bytesDown: 0,
      durationMs: 0,
    });
    return answerAndClose(client, rawHttpRefusal('invalid', reason));
  }
  const gate = await openEgress(
    { ...target, protocol: 'connect' },
    context.gate,
    AbortSignal.any([context.signal, closedSignal(client)]),
  ).catch(() => undefined);
  if (!gate) return void client.destroy();
  const record = { ...base, host: gate.host, port: target.port };
  if (!gate.ok) {
    reportTo(context.onConnection, refusalRecord(record, gate, started));
    return answerAndClose(client, rawHttpRefusal(gate.kind, gate.reason));
  }
  context.track(gate.socket);
  if (client.destroyed) return void gate.socket.destroy();
  context.established(client);
  client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
  if (head.length > 0) gate.socket.write(head);
  tunnel(client, gate.socket, {
    idleMs: context.idleMs,
    onEnd: (end) => reportTo(context.onConnection, openedRecord(record, gate, started, end)),
  });
}

/** Aborted when the client's socket closes: a decision or dial for it is no longer wanted. */
export function closedSignal(socket: Socket): AbortSignal {
  const controller = new AbortController();
  if (socket.destroyed) controller.abort();
  else socket.once('close', () => controller.abort());
  return controller.signal;
}
