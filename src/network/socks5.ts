import type { Socket } from 'node:net';
import { formatIp } from '../core/net/ip-address.js';
import { openEgress, type RefusalKind } from './egress-gate.js';
import { refusalRecord, openedRecord, reportTo } from './egress-record.js';
import type { ProxyContext } from './proxy-context.js';
import type { SocketReader } from './socket-reader.js';
import { answerAndClose, tunnel } from './tunnel.js';

/** SOCKS5 reply codes (RFC 1928 §6). */
export const SOCKS_REPLY = {
  succeeded: 0x00,
  generalFailure: 0x01,
  notAllowed: 0x02,
  networkUnreachable: 0x03,
  hostUnreachable: 0x04,
  connectionRefused: 0x05,
  ttlExpired: 0x06,
  commandNotSupported: 0x07,
  addressTypeNotSupported: 0x08,
} as const;

const NO_AUTH = 0x00;
const NO_ACCEPTABLE_METHOD = 0xff;

function replyFor(kind: RefusalKind, errno: string | undefined): number {
  switch (kind) {
    case 'too-large':
    case 'invalid':
    case 'denied':
    case 'address':
      return SOCKS_REPLY.notAllowed;
    case 'unresolved':
      return SOCKS_REPLY.hostUnreachable;
    case 'timeout':
      return SOCKS_REPLY.ttlExpired;
    case 'unreachable':
      if (errno === 'ECONNREFUSED') return SOCKS_REPLY.connectionRefused;
      if (errno === 'ENETUNREACH') return SOCKS_REPLY.networkUnreachable;
      return SOCKS_REPLY.hostUnreachable;
  }
}

/** A reply with an all-zero bound address: the proxy's own addresses are none of the box's business. */
function reply(code: number): Buffer {
  return Buffer.from([0x05, code, 0x00, 0x01, 0, 0, 0, 0, 0, 0]);
}

/**
 * A SOCKS5 client (RFC 1928): no authentication, CONNECT only, to a domain name (socks5h, the
 * form that keeps DNS out of the box), an IPv4 or an IPv6 address. BIND and UDP ASSOCIATE get
 * "command not supported". The reply codes carry no text: the reason of a refusal goes to the
 * audit record, and the box is told "not allowed by ruleset".
 */
export async function handleSocks5(
  client: Socket,
  context: ProxyContext,
  reader: SocketReader,
  signal: AbortSignal,
): Promise<void> {
  const started = performance.now();
  const [version, methodCount] = await reader.read(2);
  if (version !== 0x05) return void client.destroy();
  const methods = await reader.read(methodCount ?? 0);
  if (!methods.includes(NO_AUTH))
    return answerAndClose(client, Buffer.from([0x05, NO_ACCEPTABLE_METHOD]));
  client.write(Buffer.from([0x05, NO_AUTH]));
  const [requestVersion, command, , addressType] = await reader.read(4);
  if (requestVersion !== 0x05) return void client.destroy();
  let host: string;
  switch (addressType) {
    case 0x01:
      host = formatIp({ family: 4, bytes: await reader.read(4) });
      break;
    case 0x04:
      host = formatIp({ family: 6, bytes: await reader.read(16) });
      break;
    case 0x03: {
      const [length = 0] = await reader.read(1);
      host = (await reader.read(length)).toString('latin1');
      break;
    }
    case undefined:
    default:
      return answerAndClose(client, reply(SOCKS_REPLY.addressTypeNotSupported));
  }
  const port = (await reader.read(2)).readUInt16BE(0);
  reader.release();
  const base = { sandbox: context.gate.sandbox, protocol: 'socks5' as const, port };
  if (command !== 0x01) {
    const reason = `SOCKS5 ${command === 0x02 ? 'BIND' : command === 0x03 ? 'UDP ASSOCIATE' : `command ${command}`} is not supported: only CONNECT (TCP)`;
    reportTo(context.onConnection, {
      ...base,
      host,
      decision: 'denied',
      reason,
      bytesUp: 0,
      bytesDown: 0,
      durationMs: 0,
    });
    return answerAndClose(client, reply(SOCKS_REPLY.commandNotSupported));
  }
  const gate = await openEgress({ host, port, protocol: 'socks5' }, context.gate, signal);
  if (!gate.ok) {
    reportTo(context.onConnection, refusalRecord({ ...base, host: gate.host }, gate, started));
    return answerAndClose(client, reply(replyFor(gate.kind, gate.errno)));
  }
  context.track(gate.socket);
  if (client.destroyed) return void gate.socket.destroy();
  context.established(client);
  client.write(reply(SOCKS_REPLY.succeeded));
  tunnel(client, gate.socket, {
    idleMs: context.idleMs,
    onEnd: (end) => reportTo(context.onConnection, openedRecord(base, gate, started, end)),
  });
}
