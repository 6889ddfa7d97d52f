// Network egress end to end: a box given --allow-net reaches what its rules allow, through its
// own proxy on the host and nothing else, with every connection audited. Servers are on the
// host's loopback, which the proxy refuses unless a rule names the exact address and port.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createSandbox } from '../src/index.js';
import { runCli } from './helpers/cli.js';
import { auditRecords } from './support/audit-records.js';
import { expectCode } from './support/expect-code.js';

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

  test('a driver without host mounts refuses egress, naming the capability', async () => {
    const error = await expectCode(
      () => createSandbox({ driver: 'qemu', allowNet: ['example.com'] }),
      'POLICY_UNENFORCEABLE',
    );
    expect(error.message).toContain('network egress');
  });
});
