// The network self-test's probe: run inside a box by `ironclaw doctor --network` (bundled to
// dist/net-probe.mjs, started with the box's own node), it tries each attack of issue 14 §7 and
// prints one JSON line: for each, whether traffic got through and what every attempt met. The
// host side (runtime/doctor-network.ts) also counts what reached its servers, so a probe that
// misreads an answer cannot hide a leak.
import { spawn } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import {
  NET_PROBE_ATTACKS,
  NetProbeConfigSchema,
  type NetProbeAttack,
  type NetProbeConfig,
  type NetProbeResult,
} from '../protocol/net-probe-api.js';
import { DNS_SENTINEL_IPV4 } from '../protocol/dns-stub.js';
import {
  authority,
  describe,
  dnsQuery,
  lastAnswer,
  openTcp,
  ResponseReader,
  socksConnect,
  udpExchange,
} from './net-probe-io.js';

type Attempt = { what: string; through: boolean; answer: string };

/**
 * One request through the proxy: plain HTTP with an absolute URI, CONNECT then a request in the
 * tunnel, or SOCKS5 then a request in the tunnel. `path` names the attack, so the host's
 * servers can say which one reached them.
 */
async function viaProxy(
  config: NetProbeConfig,
  how: 'http' | 'connect' | 'socks',
  host: string,
  port: number,
  path: string,
): Promise<Attempt> {
  const target = authority(host, port);
  const what = `${how === 'http' ? `GET http://${target}${path}` : `${how.toUpperCase()} ${target}`} via the proxy`;
  const opened = await openTcp(config.proxy.host, config.proxy.port);
  if (!opened.ok) return { what, through: false, answer: `the proxy: ${opened.why}` };
  const { socket } = opened;
  const reader = new ResponseReader(socket);
  try {
    if (how === 'http') {
      socket.write(`GET http://${target}${path} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
      return reached(config, what, await reader.response());
    }
    if (how === 'connect') {
      socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
      const head = await reader.response(true);
      if (head?.status !== 200) return { what, through: false, answer: describe(head) };
    } else {
      const socks = await socksConnect(socket, reader, host, port);
      if (!socks.ok) return { what, through: false, answer: socks.why };
    }
    socket.write(`GET ${path} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
    return reached(config, `${what}, GET ${path} in the tunnel`, await reader.response(), true);
  } finally {
    socket.destroy();
  }
}

/**
 * Whether an answer came from past the proxy. A tunnel that opened counts as through even if
 * what answered in it was not ours.
 */
function reached(
  config: NetProbeConfig,
  what: string,
  response: { status: number; body: string } | null,
  tunnelOpen = false,
): Attempt {
  const ours = response?.body.includes(`denied ${config.token}`) === true;
  const allowed = response?.body.includes(`allowed ${config.token}`) === true;
  // Any success counts, ours or not: the proxy answers every refusal with 4xx or 5xx.
  const success = response !== null && response.status >= 200 && response.status < 400;
  return { what, through: ours || allowed || tunnelOpen || success, answer: describe(response) };
}

/** A direct TCP connection, around the proxy, with a request naming the attack. */
async function direct(config: NetProbeConfig, host: string, port: number, path: string) {
  const what = `direct TCP to ${authority(host, port)}`;
  const opened = await openTcp(host, port);
  if (!opened.ok) return { what, through: false, answer: opened.why };
  const reader = new ResponseReader(opened.socket);
  opened.socket.write(`GET ${path} HTTP/1.1\r\nHost: ${authority(host, port)}\r\n\r\n`);
  const attempt = reached(config, what, await reader.response(), true);
  opened.socket.destroy();
  return attempt;
}

/** One connection, two requests: the second names another host (a kept-alive relay). */
async function keptAlive(config: NetProbeConfig): Promise<Attempt> {
  const allowed = authority(config.allowed.host, config.allowed.port);
  const denied = authority(config.denied.host, config.denied.port);
  const what = `GET http://${allowed}/ then GET http://${denied}/relay on one proxy connection`;
  const opened = await openTcp(config.proxy.host, config.proxy.port);
  if (!opened.ok) return { what, through: false, answer: `the proxy: ${opened.why}` };
  const reader = new ResponseReader(opened.socket);
  try {
    opened.socket.write(`GET http://${allowed}/relay-first HTTP/1.1\r\nHost: ${allowed}\r\n\r\n`);
    const first = await reader.response();
    opened.socket.write(`GET http://${denied}/relay HTTP/1.1\r\nHost: ${denied}\r\n\r\n`);
    const second = await reader.response();
    const attempt = reached(config, what, second);
    const ended = second === null ? ' (the proxy ended the connection)' : '';
    return { ...attempt, answer: `first ${describe(first)}; second ${attempt.answer}${ended}` };
  } finally {
    opened.socket.destroy();
  }
}

/** An absolute URI naming the denied host, with the allowed one's Host header. */
async function mismatchedHost(config: NetProbeConfig): Promise<Attempt> {
  const allowed = authority(config.allowed.host, config.allowed.port);
  const denied = authority(config.denied.host, config.denied.port);
  const what = `GET http://${denied}/relay with Host: ${allowed}`;
  const opened = await openTcp(config.proxy.host, config.proxy.port);
  if (!opened.ok) return { what, through: false, answer: `the proxy: ${opened.why}` };
  const reader = new ResponseReader(opened.socket);
  opened.socket.write(`GET http://${denied}/relay HTTP/1.1\r\nHost: ${allowed}\r\n\r\n`);
  const attempt = reached(config, what, await reader.response());
  opened.socket.destroy();
  return { ...attempt, through: attempt.answer.includes(`denied ${config.token}`) };
}

/** A CONNECT tunnel to the allowed host, and in it a proxy request for the denied one. */
async function tunnelRelay(config: NetProbeConfig): Promise<Attempt> {
  const allowed = authority(config.allowed.host, config.allowed.port);
  const denied = authority(config.denied.host, config.denied.port);
  const what = `CONNECT ${allowed}, then CONNECT ${denied} and GET http://${denied}/relay in it`;
  const opened = await openTcp(config.proxy.host, config.proxy.port);
  if (!opened.ok) return { what, through: false, answer: `the proxy: ${opened.why}` };
  const reader = new ResponseReader(opened.socket);
  try {
    opened.socket.write(`CONNECT ${allowed} HTTP/1.1\r\nHost: ${allowed}\r\n\r\n`);
    const head = await reader.response(true);
    if (head?.status !== 200) return { what, through: false, answer: describe(head) };
    opened.socket.write(`CONNECT ${denied} HTTP/1.1\r\nHost: ${denied}\r\n\r\n`);
    const inner = await reader.response(true);
    opened.socket.write(`GET http://${denied}/relay HTTP/1.1\r\nHost: ${denied}\r\n\r\n`);
    const relayed = await reader.response();
    const leaked = [inner, relayed].some((r) => r?.body.includes(`denied ${config.token}`));
    return {
      what,
      through: leaked,
      answer: `the tunnel reached only ${allowed}; to the CONNECT in it: ${describe(inner)}; to the GET: ${describe(relayed)}`,
    };
  } finally {
    opened.socket.destroy();
  }
}

/** A DNS query to `server`; through unless nothing answers or only the in-box stub does. */
async function dns(server: string, port: number, name: string): Promise<Attempt> {
  const what = `DNS query for ${name} to ${authority(server, port)}`;
  const answer = await udpExchange(server, port, dnsQuery(name));
  if ('why' in answer) return { what, through: false, answer: answer.why };
  const address = lastAnswer(answer.reply);
  if (address === DNS_SENTINEL_IPV4)
    return { what, through: false, answer: `only the in-box stub answered (${address})` };
  return {
    what,
    through: true,
    answer: `a ${answer.reply.length}-byte answer (${address ?? 'no A record'})`,
  };
}

/** The box's configured resolvers, from /etc/resolv.conf (none in a box without one). */
async function nameservers(): Promise<string[]> {
  const text = await readFile('/etc/resolv.conf', 'utf8').catch(() => '');
  return [...text.matchAll(/^\s*nameserver\s+(\S+)/gm)].map((match) => match[1] ?? '');
}

/** Opens raw sockets with python3 (node has no raw sockets); none in a box without python3. */
function rawSocket(): Promise<Attempt & { skipped?: boolean }> {
  const script = [
    'import socket',
    'for name, args in (("AF_INET SOCK_RAW ICMP", (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)), ("AF_PACKET SOCK_RAW", (socket.AF_PACKET, socket.SOCK_RAW, 0))):',
    '    try:',
    '        socket.socket(*args).close(); print(name + ": opened")',
    '    except OSError as error:',
    '        print(name + ": " + (error.strerror or str(error)))',
  ].join('\n');
  const what = 'raw sockets (python3)';
  return new Promise((resolve) => {
    const child = spawn('python3', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('error', (error: NodeJS.ErrnoException) =>
      resolve({
        what,
        through: false,
        skipped: true,
        answer: `not tried: python3 (${error.code ?? error.message})`,
      }),
    );
    child.once('close', () =>
      resolve({ what, through: out.includes('opened'), answer: out.trim().replace(/\n/g, '; ') }),
    );
  });
}

async function attacks(config: NetProbeConfig): Promise<Record<NetProbeAttack, Attempt[]>> {
  const { allowed, denied } = config;
  const six = config.deniedIpv6 ?? { host: '::1', port: denied.port };
  const off = config.offLoopback;
  const metadata = '169.254.169.254';
  const servers = off ? [...(await nameservers()), '8.8.8.8', '1.1.1.1'] : [];
  const deniedForms = ['127.1', '2130706433', '0x7f.0.0.1', '0177.0.0.1', '::ffff:127.0.0.1'];
  const name = config.loopbackName;
  const run = (list: Promise<Attempt>[]): Promise<Attempt[]> => Promise.all(list);
  // In order, one attack at a time: each is small, and a report in order reads better.
  return {
    allowed: await run([
      viaProxy(config, 'http', allowed.host, allowed.port, '/allowed'),
      viaProxy(config, 'connect', allowed.host, allowed.port, '/allowed'),
      viaProxy(config, 'socks', allowed.host, allowed.port, '/allowed'),
    ]),
    'direct-tcp': await run([
      direct(config, denied.host, denied.port, '/direct-tcp'),
      direct(config, allowed.host, allowed.port, '/direct-tcp'),
    ]),
    udp: await run([
      udpExchange(config.udp.host, config.udp.port, Buffer.from('udp')).then((answer) => ({
        what: `UDP datagram to ${authority(config.udp.host, config.udp.port)}`,
        through: 'reply' in answer,
        answer:
          'reply' in answer ? `answered: ${answer.reply.toString().slice(0, 80)}` : answer.why,
      })),
    ]),
    dns: await run([
      dns(config.udp.host, config.udp.port, 'dns.doctor.ironclaw.invalid'),
      ...servers.map((server) => dns(server, 53, 'dns.doctor.ironclaw.invalid')),
      ...(off ? [systemLookup()] : []),
    ]),
    ipv6: await run([
      direct(config, six.host, six.port, '/ipv6'),
      viaProxy(config, 'connect', six.host, six.port, '/ipv6'),
      viaProxy(config, 'http', six.host, six.port, '/ipv6'),
    ]),
    'connect-denied': await run([
      viaProxy(config, 'connect', denied.host, denied.port, '/connect-denied'),
      viaProxy(config, 'connect', 'denied.doctor.ironclaw.invalid', denied.port, '/connect-denied'),
      viaProxy(config, 'socks', denied.host, denied.port, '/connect-denied'),
    ]),
    relay: await run([keptAlive(config), mismatchedHost(config), tunnelRelay(config)]),
    'ip-literal': await run([
      ...deniedForms.map((form) => viaProxy(config, 'connect', form, denied.port, '/ip-literal')),
      viaProxy(config, 'http', '2130706433', denied.port, '/ip-literal'),
    ]),
    'loopback-name': await run([
      viaProxy(config, 'connect', name, denied.port, '/loopback-name'),
      viaProxy(config, 'http', name, denied.port, '/loopback-name'),
      viaProxy(config, 'socks', name, denied.port, '/loopback-name'),
    ]),
    metadata: await run([
      viaProxy(config, 'connect', metadata, 80, '/metadata'),
      viaProxy(config, 'http', metadata, 80, '/latest/meta-data/'),
      viaProxy(config, 'socks', metadata, 80, '/metadata'),
      ...(off ? [direct(config, metadata, 80, '/metadata')] : []),
    ]),
    'raw-socket': await run([rawSocket()]),
  };
}

/** getaddrinfo in the box: a real answer means the box has a resolver that forwards. */
async function systemLookup(): Promise<Attempt> {
  const what = 'getaddrinfo("example.com")';
  try {
    const found = await lookup('example.com', { all: true });
    const addresses = found.map((entry) => entry.address);
    const stub = addresses.every((address) => address === DNS_SENTINEL_IPV4);
    return {
      what,
      through: !stub,
      answer: stub ? `only the in-box stub's ${DNS_SENTINEL_IPV4}` : addresses.join(', '),
    };
  } catch (error) {
    return { what, through: false, answer: (error as NodeJS.ErrnoException).code ?? String(error) };
  }
}

async function main(): Promise<void> {
  const config = NetProbeConfigSchema.parse(JSON.parse(process.argv.at(-1) ?? ''));
  const found = await attacks(config);
  const results: NetProbeResult[] = NET_PROBE_ATTACKS.map((attack) => {
    const attempts = found[attack];
    const skipped = attempts.every((attempt) => 'skipped' in attempt && attempt.skipped === true);
    return {
      attack,
      through:
        attack === 'allowed'
          ? attempts.every((attempt) => attempt.through)
          : attempts.some((attempt) => attempt.through),
      ...(skipped ? { skipped } : {}),
      attempts: attempts.map((attempt) => `${attempt.what} -> ${attempt.answer}`),
    };
  });
  process.stdout.write(`${JSON.stringify({ results })}\n`);
}

await main();
