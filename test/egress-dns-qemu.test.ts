// The box's DNS stub in a QEMU guest (issue 14 §4): the guest agent runs as uid 1000 with no
// capabilities, so the host asks the guest's root restore helper to lower the guest's port floor
// to 53 while the agent binds its stub, and to put it back before any command runs. Two boxes
// only (TCG is slow here): one with egress, where names resolve to the sentinel and the workload
// can take neither port 53 nor any other low port; and the negative control, a box without
// egress, where the floor alone holds port 53 and no stub answers.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createSandbox, type Sandbox } from '../src/index.js';
import { DNS_SENTINEL_IPV4 } from '../src/protocol/dns-stub.js';
import { qemuMissing } from './support/qemu-missing.js';
import { execTrimmed, QUERY_PY } from './support/dns-probes.js';

/** Binds 127.0.0.1:PORT over UDP and TCP for each port in argv; prints what each got. */
const BIND_PY = String.raw`
import socket, sys
for port in sys.argv[1:]:
    for kind, name in ((socket.SOCK_DGRAM, "udp"), (socket.SOCK_STREAM, "tcp")):
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind(("127.0.0.1", int(port)))
            print(port, name, "bound")
        except OSError as e:
            print(port, name, "refused", e.errno)
`;

/** The workload's own try at the floor: root's sysctl, refused. */
const LOWER_FLOOR_PY = String.raw`
try:
    open("/proc/sys/net/ipv4/ip_unprivileged_port_start", "w").write("0")
    print("lowered")
except OSError as e:
    print("refused", e.errno)
`;

const missing = await qemuMissing();
const skip = missing === undefined ? '' : ` [skipped: ${missing}]`;
/** Under TCG a box starts in seconds to tens of seconds on a busy machine. */
const START_MS = 240_000;

const run = (sandbox: Sandbox, argv: string[]): ReturnType<typeof execTrimmed> =>
  execTrimmed(sandbox, argv, 60_000);

describe.skipIf(missing !== undefined)(`the in-box DNS stub (qemu)${skip}`, () => {
  let box: Sandbox;
  beforeAll(async () => {
    box = await createSandbox({
      driver: 'qemu',
      allowNet: ['example.com'],
      startTimeoutMs: START_MS,
    });
    await box.writeFile('/tmp/query.py', QUERY_PY);
    await box.writeFile('/tmp/bind.py', BIND_PY);
    await box.writeFile('/tmp/floor.py', LOWER_FLOOR_PY);
  }, START_MS + 60_000);
  afterAll(async () => {
    await box?.destroy();
  });

  test('Python (glibc getaddrinfo) and Node resolve any name to the sentinel, over UDP and TCP; AAAA is NODATA', async () => {
    expect(box.isolation.driver).toBe('qemu');
    expect(box.isolation.layers.network.detail).toContain(
      `names resolve in the box to ${DNS_SENTINEL_IPV4}`,
    );
    const python = await run(box, [
      'python3',
      '-c',
      'import socket\nprint(sorted({a[4][0] for a in socket.getaddrinfo("a.b.example", 443)}))\nprint(socket.gethostbyname("localhost"))\ntry:\n  socket.getaddrinfo("pypi.org", 443, socket.AF_INET6)\nexcept socket.gaierror as e:\n  print({socket.EAI_NODATA: "no data", socket.EAI_AGAIN: "no answer"}.get(e.args[0], e.args[0]))',
    ]);
    expect(python.out).toBe(`['${DNS_SENTINEL_IPV4}']\n127.0.0.1\nno data`);
    const node = await run(box, [
      'node',
      '-e',
      'require("dns").lookup("registry.npmjs.org", { all: true }, (e, a) => console.log(e ? e.code : JSON.stringify(a)))',
    ]);
    expect(JSON.parse(node.out)).toEqual([{ address: DNS_SENTINEL_IPV4, family: 4 }]);
    for (const proto of ['udp', 'tcp'])
      expect((await run(box, ['python3', '/tmp/query.py', 'x.test', '127.0.0.1', proto])).out).toBe(
        `rcode 0 answers 1 ${DNS_SENTINEL_IPV4}`,
      );
  });

  test('attack: the workload cannot take port 53, any low port, the floor or a capability', async () => {
    expect((await run(box, ['cat', '/proc/sys/net/ipv4/ip_unprivileged_port_start'])).out).toBe(
      '1024',
    );
    // EACCES before EADDRINUSE: the kernel checks the floor first, so 53 is refused like 80.
    expect((await run(box, ['python3', '/tmp/bind.py', '53', '80'])).out).toBe(
      '53 udp refused 13\n53 tcp refused 13\n80 udp refused 13\n80 tcp refused 13',
    );
    expect((await run(box, ['python3', '/tmp/floor.py'])).out).toBe('refused 13');
    const status = (await run(box, ['cat', '/proc/self/status'])).out;
    for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'])
      expect(status).toMatch(new RegExp(`^${set}:\\s+0+$`, 'm'));
  });

  test(
    'negative control: a QEMU box without egress has no stub (a lookup is refused) and port 53 stays under the floor',
    async () => {
      await using bare = await createSandbox({ driver: 'qemu', startTimeoutMs: START_MS });
      expect(bare.isolation.layers.network.detail).not.toContain(DNS_SENTINEL_IPV4);
      const lookup = await run(bare, [
        'python3',
        '-c',
        'import socket\ntry:\n  print(socket.getaddrinfo("pypi.org", 443))\nexcept socket.gaierror as e:\n  print("failed")',
      ]);
      expect(lookup.out).toBe('failed');
      await bare.writeFile('/tmp/query.py', QUERY_PY);
      const query = await run(bare, ['python3', '/tmp/query.py', 'x.test', '127.0.0.1', 'udp']);
      expect(query.code).not.toBe(0);
      expect(query.err).toContain('ConnectionRefusedError');
      // Nothing holds 53 here: what refuses the workload is the floor, never lowered for it.
      await bare.writeFile('/tmp/bind.py', BIND_PY);
      expect((await run(bare, ['python3', '/tmp/bind.py', '53'])).out).toBe(
        '53 udp refused 13\n53 tcp refused 13',
      );
    },
    START_MS + 60_000,
  );
});
