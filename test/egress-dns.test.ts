// The box's DNS stub (issue 14 §4): in a box with egress, every name resolves to the sentinel
// through the ordinary resolver paths (glibc's getaddrinfo behind getent, Python and Node), no
// query leaves the box, and the stub's port 53 was opened for the agent only: the workload gets
// neither a low port nor a capability. A box without egress has no stub. The same on gVisor.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createSandbox, type Sandbox } from '../src/index.js';
import { DNS_SENTINEL_IPV4 } from '../src/protocol/dns-stub.js';
import { runscBinary } from '../src/drivers/gvisor/platform.js';
import { execTrimmed, QUERY_PY } from './support/dns-probes.js';

const BIND_PY = String.raw`
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.bind(("127.0.0.1", 80))
    print("bound")
except PermissionError as e:
    print("refused", e.errno)
`;

let box: Sandbox;

beforeAll(async () => {
  // A rule no test uses: the box gets egress, and so its stub; no connection is made here.
  box = await createSandbox({ allowNet: ['example.com'] });
  await box.writeFile('/tmp/query.py', QUERY_PY);
  await box.writeFile('/tmp/bind.py', BIND_PY);
});

afterAll(async () => {
  await box.destroy();
});

const text = (argv: string[]): ReturnType<typeof execTrimmed> => execTrimmed(box, argv, 20_000);

describe('the in-box DNS stub (bwrap, with egress)', () => {
  test('getent, Python and Node resolve any name to the sentinel; localhost stays loopback', async () => {
    expect(box.isolation.layers.network.detail).toContain(
      `names resolve in the box to ${DNS_SENTINEL_IPV4}`,
    );
    const getent = await text(['getent', 'ahostsv4', 'pypi.org']);
    expect(getent.code).toBe(0);
    expect(getent.out.split(/\s+/)[0]).toBe(DNS_SENTINEL_IPV4);
    const python = await text([
      'python3',
      '-c',
      'import socket; print(sorted({a[4][0] for a in socket.getaddrinfo("a.b.example", 443)}))',
    ]);
    expect(python.out).toBe(`['${DNS_SENTINEL_IPV4}']`);
    const node = await text([
      'node',
      '-e',
      'require("dns").lookup("registry.npmjs.org", { all: true }, (e, a) => console.log(e ? e.code : JSON.stringify(a)))',
    ]);
    expect(JSON.parse(node.out)).toEqual([{ address: DNS_SENTINEL_IPV4, family: 4 }]);
    expect((await text(['getent', 'ahostsv4', 'localhost'])).out).toMatch(/^127\.0\.0\.1\s/);
  });

  test('AAAA is NODATA: an IPv6-only lookup finds no address, and the resolver did answer', async () => {
    const v6 = await text([
      'python3',
      '-c',
      'import socket\ntry:\n  print(socket.getaddrinfo("pypi.org", 443, socket.AF_INET6))\nexcept socket.gaierror as e:\n  print({socket.EAI_NODATA: "no data", socket.EAI_NONAME: "no name", socket.EAI_AGAIN: "no answer"}.get(e.args[0], e.args[0]))',
    ]);
    // NODATA: the name exists with no address of that family (EAI_AGAIN: a dead resolver).
    expect(v6.out).toBe('no data');
    // A dual-stack lookup gets the IPv4 answer alone.
    const both = await text([
      'python3',
      '-c',
      'import socket; print(sorted({a[4][0] for a in socket.getaddrinfo("pypi.org", 443)}))',
    ]);
    expect(both.out).toBe(`['${DNS_SENTINEL_IPV4}']`);
  });

  test('the stub answers over UDP and TCP on 127.0.0.1:53', async () => {
    for (const proto of ['udp', 'tcp'])
      expect((await text(['python3', '/tmp/query.py', 'x.test', '127.0.0.1', proto])).out).toBe(
        `rcode 0 answers 1 ${DNS_SENTINEL_IPV4}`,
      );
  });

  test('garbage to the stub costs that packet only: it still answers, and the agent still serves', async () => {
    const hostile = String.raw`
import os, socket, struct
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for packet in (b"\0", b"\0" * 11, os.urandom(600), struct.pack(">HHHHHH", 1, 0x8100, 1, 0, 0, 0),
               struct.pack(">HHHHHH", 2, 0x0100, 1, 0, 0, 0) + b"\xc0\x0c" + struct.pack(">HH", 1, 1)):
    u.sendto(packet, ("127.0.0.1", 53))
for junk in (struct.pack(">H", 65535) + b"x" * 100, os.urandom(70000)):
    t = socket.create_connection(("127.0.0.1", 53), timeout=5)
    try:
        t.sendall(junk)
    except OSError:
        pass
    t.close()
print("sent")
`;
    await box.writeFile('/tmp/hostile.py', hostile);
    expect((await text(['python3', '/tmp/hostile.py'])).out).toBe('sent');
    for (const proto of ['udp', 'tcp'])
      expect((await text(['python3', '/tmp/query.py', 'after.test', '127.0.0.1', proto])).out).toBe(
        `rcode 0 answers 1 ${DNS_SENTINEL_IPV4}`,
      );
  });

  test('nothing leaves: a query to any other resolver finds no route', async () => {
    for (const server of ['8.8.8.8', '10.0.0.53', '192.168.1.1']) {
      const result = await text(['python3', '/tmp/query.py', 'x.test', server, 'udp']);
      expect(result.code).not.toBe(0);
      expect(result.err).toMatch(/Network is unreachable/);
    }
  });

  test('port 53 was opened for the agent only: the workload gets no low port and no capability', async () => {
    expect((await text(['cat', '/proc/sys/net/ipv4/ip_unprivileged_port_start'])).out).toBe('1024');
    expect((await text(['python3', '/tmp/bind.py'])).out).toBe('refused 13');
    const status = (await text(['cat', '/proc/self/status'])).out;
    for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapAmb'])
      expect(status).toMatch(new RegExp(`^${set}:\\s+0+$`, 'm'));
  });
});

describe('a box without egress', () => {
  test('negative control: has no stub, so no name resolves and port 53 refuses', async () => {
    await using bare = await createSandbox();
    const getent = await bare.exec(['getent', 'ahostsv4', 'pypi.org']);
    expect(getent.exitCode).toBe(2);
    await bare.writeFile('/tmp/query.py', QUERY_PY);
    const query = await bare.exec(['python3', '/tmp/query.py', 'x.test', '127.0.0.1', 'udp'], {
      timeoutMs: 20_000,
    });
    expect(query.exitCode).not.toBe(0);
    expect(query.stderr.toString()).toContain('ConnectionRefusedError');
  });
});

// gVisor: the same stub in the guest agent, on the sandbox's own loopback (runsc keeps
// --network=none, whose netstack still has loopback). There is no port floor to lower: runsc's
// netstack lets an unprivileged process bind below 1024, so the agent binds 53 as it is, before
// any command runs, and the workload cannot take the port from it.
const runscMissing = await runscBinary().then(
  () => undefined,
  (error: Error) => error.message,
);
const noGvisor = runscMissing === undefined ? '' : ` [skipped: ${runscMissing}]`;

const run = (sandbox: Sandbox, argv: string[]): ReturnType<typeof execTrimmed> =>
  execTrimmed(sandbox, argv, 20_000);

/** Binds 127.0.0.1:53 over UDP and TCP; prints what each got. */
const BIND_53_PY = String.raw`
import socket
for kind, name in ((socket.SOCK_DGRAM, "udp"), (socket.SOCK_STREAM, "tcp")):
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind(("127.0.0.1", 53))
        print(name, "bound")
    except OSError as e:
        print(name, "refused", e.errno)
`;

describe.skipIf(runscMissing !== undefined)(
  `the in-box DNS stub (gvisor, with egress)${noGvisor}`,
  () => {
    let gbox: Sandbox;
    beforeAll(async () => {
      gbox = await createSandbox({
        driver: 'gvisor',
        allowNet: ['example.com'],
        startTimeoutMs: 60_000,
      });
      await gbox.writeFile('/tmp/query.py', QUERY_PY);
      await gbox.writeFile('/tmp/bind53.py', BIND_53_PY);
    }, 90_000);
    afterAll(async () => {
      await gbox?.destroy();
    });

    test('getent, Python and Node resolve any name to the sentinel; localhost stays loopback', async () => {
      expect(gbox.isolation.driver).toBe('gvisor');
      expect(gbox.isolation.layers.network.detail).toContain(
        `names resolve in the box to ${DNS_SENTINEL_IPV4}`,
      );
      const getent = await run(gbox, ['getent', 'ahostsv4', 'pypi.org']);
      expect(getent.code).toBe(0);
      expect(getent.out.split(/\s+/)[0]).toBe(DNS_SENTINEL_IPV4);
      const python = await run(gbox, [
        'python3',
        '-c',
        'import socket; print(sorted({a[4][0] for a in socket.getaddrinfo("a.b.example", 443)}))',
      ]);
      expect(python.out).toBe(`['${DNS_SENTINEL_IPV4}']`);
      const node = await run(gbox, [
        'node',
        '-e',
        'require("dns").lookup("registry.npmjs.org", { all: true }, (e, a) => console.log(e ? e.code : JSON.stringify(a)))',
      ]);
      expect(JSON.parse(node.out)).toEqual([{ address: DNS_SENTINEL_IPV4, family: 4 }]);
      expect((await run(gbox, ['getent', 'ahostsv4', 'localhost'])).out).toMatch(/^127\.0\.0\.1\s/);
    });

    test('AAAA is NODATA, and the stub answers over UDP and TCP on 127.0.0.1:53', async () => {
      const v6 = await run(gbox, [
        'python3',
        '-c',
        'import socket\ntry:\n  print(socket.getaddrinfo("pypi.org", 443, socket.AF_INET6))\nexcept socket.gaierror as e:\n  print({socket.EAI_NODATA: "no data", socket.EAI_NONAME: "no name", socket.EAI_AGAIN: "no answer"}.get(e.args[0], e.args[0]))',
      ]);
      expect(v6.out).toBe('no data');
      for (const proto of ['udp', 'tcp'])
        expect(
          (await run(gbox, ['python3', '/tmp/query.py', 'x.test', '127.0.0.1', proto])).out,
        ).toBe(`rcode 0 answers 1 ${DNS_SENTINEL_IPV4}`);
    });

    test('nothing leaves: a query to any other resolver finds no route', async () => {
      for (const server of ['8.8.8.8', '10.0.0.53', '192.168.1.1']) {
        const result = await run(gbox, ['python3', '/tmp/query.py', 'x.test', server, 'udp']);
        expect(result.code).not.toBe(0);
        expect(result.err).toMatch(/No route to host|Network is unreachable/);
      }
    });

    test('the workload cannot take port 53 from the stub, and has no capability', async () => {
      expect((await run(gbox, ['python3', '/tmp/bind53.py'])).out).toBe(
        'udp refused 98\ntcp refused 98',
      );
      const status = (await run(gbox, ['cat', '/proc/self/status'])).out;
      // gVisor's status has no CapAmb line.
      for (const set of ['CapInh', 'CapPrm', 'CapEff'])
        expect(status).toMatch(new RegExp(`^${set}:\\s+0+$`, 'm'));
    });

    test('negative control: a gVisor box without egress has no stub: no name resolves, and port 53 is free', async () => {
      await using bare = await createSandbox({ driver: 'gvisor', startTimeoutMs: 60_000 });
      expect((await bare.exec(['getent', 'ahostsv4', 'pypi.org'])).exitCode).toBe(2);
      await bare.writeFile('/tmp/query.py', QUERY_PY);
      const query = await run(bare, ['python3', '/tmp/query.py', 'x.test', '127.0.0.1', 'udp']);
      expect(query.code).not.toBe(0);
      expect(query.err).toContain('ConnectionRefusedError');
      // Nothing holds it: the refusal above is the stub's absence, not a floor.
      await bare.writeFile('/tmp/bind53.py', BIND_53_PY);
      expect((await run(bare, ['python3', '/tmp/bind53.py'])).out).toBe('udp bound\ntcp bound');
    }, 90_000);
  },
);
