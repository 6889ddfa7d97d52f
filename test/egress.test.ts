// Network egress end to end: a box given --allow-net reaches what its rules allow, through its
// own proxy on the host and nothing else, with every connection audited. Servers are on the
// host's loopback, which the proxy refuses unless a rule names the exact address and port.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createSandbox } from '../src/index.js';
import { runCli } from './helpers/cli.js';
import { auditRecords } from './support/audit-records.js';
import type { DriverName } from '../src/core/isolation.js';
import { runscBinary } from '../src/drivers/gvisor/platform.js';
import { qemuMissing } from './support/qemu-missing.js';

interface Host {
  server: Server;
  port: number;
  requests: number;
}

async function listen(body: string): Promise<Host> {
  const host = { requests: 0 } as Host;
  host.server = createServer((_request, response) => {
    host.requests += 1;
    response.end(body);
  });
  await new Promise<void>((resolve) => host.server.listen(0, '127.0.0.1', resolve));
  host.port = (host.server.address() as AddressInfo).port;
  return host;
}

let allowed: Host;
let denied: Host;

beforeAll(async () => {
  [allowed, denied] = await Promise.all([listen('hello from the host'), listen('secret')]);
});

afterAll(async () => {
  await Promise.all(
    [allowed, denied].map((host) => new Promise((resolve) => host.server.close(resolve))),
  );
});

const curl = (port: number): string[] => [
  'curl',
  '-sS',
  '-w',
  '\n%{http_code}',
  `http://127.0.0.1:${port}/`,
];

describe('network egress (--allow-net)', () => {
  test('reaches what a rule allows, is refused the rest with the reason, and audits both', async () => {
    await using box = await createSandbox({ allowNet: [`127.0.0.1:${allowed.port}`] });
    expect(box.isolation.layers.network.detail).toContain('egress only through');
    const ok = await box.exec(curl(allowed.port), { timeoutMs: 20_000 });
    expect(ok.stdout.toString()).toBe('hello from the host\n200');
    // Python's urllib, unchanged, through the same variables.
    const python = await box.exec(
      [
        'python3',
        '-c',
        `import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:${allowed.port}/').read().decode())`,
      ],
      { timeoutMs: 20_000 },
    );
    expect(python.stdout.toString()).toBe('hello from the host\n');
    const refused = await box.exec(curl(denied.port), { timeoutMs: 20_000 });
    expect(refused.stdout.toString()).toMatch(/403$/);
    expect(refused.stdout.toString()).toContain(`127.0.0.1:${denied.port}`);
    expect(denied.requests).toBe(0);
    // Nothing goes around the proxy: a direct connection from the box finds no route.
    const direct = await box.exec([
      'curl',
      '-sS',
      '--noproxy',
      '*',
      `http://127.0.0.1:${allowed.port}/`,
    ]);
    expect(direct.exitCode).not.toBe(0);
    const egress = (await auditRecords(undefined, { sandbox: box.id })).filter(
      (record) => record.kind === 'egress',
    );
    expect(egress.map((record) => [record.data.decision, record.data.port])).toEqual(
      expect.arrayContaining([
        ['allowed', allowed.port],
        ['denied', denied.port],
      ]),
    );
  }, 60_000);

  test('negative control: without --allow-net the same request reaches nothing', async () => {
    await using box = await createSandbox();
    const result = await box.exec(curl(allowed.port), { timeoutMs: 20_000 });
    expect(result.exitCode).not.toBe(0);
    expect(result.stdout.toString()).not.toContain('hello');
  });

  test("the CLI takes --allow-net on exec; a bad rule is the caller's error", async () => {
    const before = allowed.requests;
    const run = await runCli([
      'exec',
      '--allow-net',
      `127.0.0.1:${allowed.port}`,
      '--',
      ...curl(allowed.port),
    ]);
    expect(run.stdout).toBe('hello from the host\n200');
    expect(run.code).toBe(0);
    expect(allowed.requests).toBe(before + 1);
    const bad = await runCli(['exec', '--allow-net', 'exa*mple.com', '--', 'true']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/INVALID_ARGUMENT/);
  }, 60_000);
});

/**
 * Fetches each URL given through the proxy variables (urllib reads them), printing the status
 * and body of each on one line, or for `direct:` URLs with no proxy at all.
 */
const FETCH_PY = String.raw`
import sys, urllib.request, urllib.error
for url in sys.argv[1:]:
    opener = urllib.request.build_opener()
    if url.startswith("direct:"):
        url = url[7:]
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=60) as reply:
            print(reply.status, reply.read().decode().replace("\n", " "))
    except urllib.error.HTTPError as error:
        print(error.code, error.read().decode().replace("\n", " "))
    except OSError as error:
        print("failed", type(error).__name__)
`;

const OTHER_DRIVERS: { driver: DriverName; missing: string | undefined; timeout: number }[] = [
  {
    driver: 'gvisor',
    missing: await runscBinary().then(
      () => undefined,
      (error: Error) => error.message,
    ),
    timeout: 60_000,
  },
  // Under TCG a VM boots in tens of seconds on a busy machine: one test, a generous timeout.
  { driver: 'qemu', missing: await qemuMissing(), timeout: 240_000 },
];

describe.each(OTHER_DRIVERS)('network egress on $driver', ({ driver, missing, timeout }) => {
  test.skipIf(missing !== undefined)(
    `reaches what a rule allows and nothing else, audited${missing === undefined ? '' : ` [skipped: ${missing}]`}`,
    async () => {
      await using box = await createSandbox({
        driver,
        allowNet: [`127.0.0.1:${allowed.port}`],
        startTimeoutMs: timeout / 2,
      });
      expect(box.isolation.layers.network.detail).toContain('egress only through');
      await box.writeFile('/tmp/fetch.py', FETCH_PY);
      const before = denied.requests;
      const result = await box.exec(
        [
          'python3',
          '/tmp/fetch.py',
          `http://127.0.0.1:${allowed.port}/`,
          `http://127.0.0.1:${denied.port}/`,
          `direct:http://127.0.0.1:${allowed.port}/`,
        ],
        { timeoutMs: timeout / 4 },
      );
      expect(result.stderr.toString()).toBe('');
      expect(result.exitCode).toBe(0);
      const [ok, refused, direct] = result.stdout.toString().split('\n');
      expect(ok).toBe('200 hello from the host');
      expect(refused).toMatch(/^403 /);
      expect(refused).toContain(`127.0.0.1:${denied.port}`);
      // Nothing goes around the proxy: a direct connection from the box finds no route.
      expect(direct).toMatch(/^failed /);
      expect(denied.requests).toBe(before);
      const egress = (await auditRecords(undefined, { sandbox: box.id }))
        .filter((record) => record.kind === 'egress')
        .map((record) => record.data as { decision: string; port: number });
      expect(egress.map((record) => [record.decision, record.port])).toEqual([
        ['allowed', allowed.port],
        ['denied', denied.port],
      ]);
    },
    timeout,
  );
});
