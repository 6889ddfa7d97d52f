// The DNS stub's reply builder behind a real UDP socket on loopback, asked by a real resolver
// (c-ares, node:dns): what a tool in the box would see.
import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { describe, expect, it } from 'vitest';
import { DNS_SENTINEL_IPV4, buildStubReply } from '../protocol/dns-stub.js';

async function stubServer() {
  const socket = createSocket('udp4');
  socket.on('message', (query, from) => {
    const reply = buildStubReply(query);
    if (reply) socket.send(reply, from.port, from.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const resolver = new Resolver({ timeout: 1000, tries: 1 });
  resolver.setServers([`127.0.0.1:${socket.address().port}`]);
  return {
    resolver,
    [Symbol.asyncDispose]: () => new Promise<void>((r) => socket.close(() => r())),
  };
}

describe('the DNS stub, asked by a real resolver', () => {
  it('answers A with the sentinel and AAAA, MX and TXT with no data', async () => {
    await using stub = await stubServer();
    expect(await stub.resolver.resolve4('files.pythonhosted.org')).toEqual([DNS_SENTINEL_IPV4]);
    expect(await stub.resolver.resolve4('localhost')).toEqual(['127.0.0.1']);
    await expect(stub.resolver.resolve6('example.com')).rejects.toMatchObject({ code: 'ENODATA' });
    await expect(stub.resolver.resolveMx('example.com')).rejects.toMatchObject({ code: 'ENODATA' });
    await expect(stub.resolver.resolveTxt('exfil-data.attacker.example')).rejects.toMatchObject({
      code: 'ENODATA',
    });
  });
});
