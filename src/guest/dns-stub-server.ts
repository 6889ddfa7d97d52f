import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { IronClawError } from '../core/errors.js';
import { buildStubReply } from '../protocol/dns-stub.js';
import type { DnsStubParamsSchema } from '../protocol/guest-api.js';
import type * as z from 'zod/mini';

/** TCP connections served at once; a client that opens more gets them closed. */
const MAX_TCP_CONNECTIONS = 64;
/** A TCP client that sends nothing for this long is dropped (it holds a slot otherwise). */
const TCP_IDLE_MS = 10_000;
/** A TCP message is a 2-byte length and at most that many bytes; a query needs far fewer. */
const MAX_TCP_BUFFER = 2 + 65_535;

let running: { port: number; udp: UdpSocket; tcp: Server } | undefined;

/**
 * The box's resolver (its /etc/resolv.conf says `nameserver 127.0.0.1`): answers every query
 * itself with buildStubReply and never forwards one, so a name looked up in the box tells no one
 * outside, and a tool that resolves before it connects still gets an address and goes on to the
 * proxy with the name. UDP is what resolvers use; TCP is served too (length-prefixed, RFC 1035
 * §4.2.2) for clients set to use it (`options use-vc`, `dig +tcp`); the stub's answers are never
 * truncated, so a UDP client never needs to retry over TCP. Listening on 127.0.0.1 only: the
 * box's one interface is loopback anyway. Asking again on the same port is a no-op.
 */
export async function startDnsStub(
  params: z.infer<typeof DnsStubParamsSchema>,
): Promise<Record<string, never>> {
  if (running?.port === params.port) return {};
  if (running)
    throw new IronClawError(
      'INVALID_ARGUMENT',
      `the DNS stub already listens on 127.0.0.1:${running.port} in the box`,
    );
  const udp = createSocket({ type: 'udp4' });
  const tcp = createServer({ noDelay: true }, serveTcp);
  tcp.maxConnections = MAX_TCP_CONNECTIONS;
  try {
    await Promise.all([
      listening(udp, (done) => udp.bind({ address: '127.0.0.1', port: params.port }, done)),
      listening(tcp, (done) => tcp.listen({ host: '127.0.0.1', port: params.port }, done)),
    ]);
  } catch (error) {
    udp.close();
    tcp.close();
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new IronClawError(
      'INVALID_ARGUMENT',
      `cannot serve DNS on 127.0.0.1:${params.port} in the box: ${code}${code === 'EACCES' ? ' (the host did not lower the box’s unprivileged port floor)' : ''}`,
    );
  }
  // Never a crash of the agent: a bad packet or a reset costs that query only.
  udp.on('error', () => undefined);
  tcp.on('error', () => undefined);
  udp.on('message', (query, from) => {
    const reply = buildStubReply(query);
    if (reply) udp.send(reply, from.port, from.address);
  });
  running = { port: params.port, udp, tcp };
  return {};
}

function listening(emitter: UdpSocket | Server, start: (done: () => void) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    emitter.once('error', reject);
    start(() => {
      emitter.off('error', reject);
      resolve();
    });
  });
}

/** One TCP client: each 2-byte-length message answered in the same framing, in order. */
function serveTcp(client: Socket): void {
  let buffered = Buffer.alloc(0);
  client.setTimeout(TCP_IDLE_MS, () => client.destroy());
  client.on('error', () => client.destroy());
  client.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    if (buffered.length > MAX_TCP_BUFFER) return void client.destroy();
    while (buffered.length >= 2) {
      const size = buffered.readUInt16BE(0);
      if (buffered.length < 2 + size) break;
      const reply = buildStubReply(buffered.subarray(2, 2 + size));
      buffered = buffered.subarray(2 + size);
      if (!reply) continue;
      const framed = Buffer.alloc(2 + reply.length);
      framed.writeUInt16BE(reply.length, 0);
      framed.set(reply, 2);
      client.write(framed);
    }
  });
}
