// `ironclaw doctor --network`: a real bwrap box, allowed one loopback server of the host's, tries
// each attack of issue 14 §7 from inside; every one is blocked, with the reason it met, and the
// allowed host works. Negative controls: the same probe with a layer switched off (no box at
// all, so the host's network; the proxy's address policy opened for one address) reports the
// attacks that layer stops as passing, and the host's servers see them arrive.
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { unwrap } from '../src/core/errors.js';
import { parseAllowRules } from '../src/core/net/allow-rule.js';
import { netProbeBundlePath } from '../src/host/package-files.js';
import { allowListDecider } from '../src/network/decider.js';
import { startEgressProxy } from '../src/network/egress-proxy.js';
import { startProbeTargets } from '../src/network/probe-targets.js';
import { loopbackBridge } from '../src/network/test-support.js';
import { createSandbox } from '../src/index.js';
import { judgeProbe, parseProbeOutput, runProbeInBox } from '../src/runtime/doctor-network.js';
import type { DoctorCheck } from '../src/runtime/doctor.js';
import { freshStateDir, runCli } from './helpers/cli.js';

const isRoot = process.getuid?.() === 0;

const ATTACKS = [
  'a direct TCP connect',
  'UDP',
  'DNS sent to a resolver',
  'IPv6',
  'CONNECT to a denied host',
  'a relay through the allowed host to a denied one',
  'an IP literal',
  'a name that resolves to 127.0.0.1',
  'the cloud metadata address',
  'a raw socket',
];

/** What each attack must have met in a bwrap box: the reason it was blocked. */
const REASONS: Record<string, RegExp[]> = {
  'a direct TCP connect': [/direct TCP to 127\.0\.0\.1:\d+ -> connect ECONNREFUSED/],
  UDP: [/UDP datagram to 127\.0\.0\.1:\d+ -> ECONNREFUSED/],
  'DNS sent to a resolver': [
    /to 8\.8\.8\.8:53 -> ENETUNREACH/,
    /getaddrinfo\("example\.com"\) -> /,
  ],
  IPv6: [/CONNECT \[::1\]:\d+ via the proxy -> 403 /],
  'CONNECT to a denied host': [
    /CONNECT 127\.0\.0\.1:\d+ via the proxy -> 403 IronClaw egress proxy: no --allow-net rule allows/,
    /CONNECT denied\.doctor\.ironclaw\.invalid:\d+ via the proxy -> 403/,
    /SOCKS 127\.0\.0\.1:\d+ via the proxy -> SOCKS reply 2/,
  ],
  'a relay through the allowed host to a denied one': [
    /on one proxy connection -> first 200 allowed .*; second /,
    /with Host: 127\.0\.0\.1:\d+ -> 403 /,
    /the tunnel reached only 127\.0\.0\.1:\d+/,
  ],
  'an IP literal': [/CONNECT 2130706433:\d+ via the proxy -> (400|403) /],
  'a name that resolves to 127.0.0.1': [
    /localhost resolves to 127\.0\.0\.1: 127\.0\.0\.1 is a loopback address/,
  ],
  'the cloud metadata address': [
    /CONNECT 169\.254\.169\.254:80 via the proxy -> 403 /,
    /direct TCP to 169\.254\.169\.254:80 -> connect ENETUNREACH/,
  ],
  'a raw socket': [/AF_INET SOCK_RAW ICMP: Operation not permitted/],
};

const byName = (checks: readonly DoctorCheck[], prefix: string) =>
  new Map(checks.map((check) => [check.name.replace(`${prefix} network: `, ''), check]));

/** Runs the probe on the host itself, as a box with the host's network would. */
function probeOnHost(
  config: object,
): Promise<{ stdout: string; stderr: string; code: number | null }> {
  return netProbeBundlePath().then(
    (probe) =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [probe, JSON.stringify(config)], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.once('error', reject);
        child.once('close', (code) => resolve({ stdout, stderr, code }));
      }),
  );
}

/** A proxy for the box on a socket the box's uid can reach (0711 directory, 0666 socket). */
async function boxProxy(rules: readonly string[], decided: readonly string[]) {
  const dir = await mkdtemp(join(tmpdir(), 'ironclaw-netcheck-'));
  await chmod(dir, 0o711);
  const proxy = await startEgressProxy({
    socketPath: join(dir, 'proxy.sock'),
    sandbox: 'sb-netcheck',
    rules: unwrap(parseAllowRules(rules)),
    decider: allowListDecider(unwrap(parseAllowRules(decided))),
  });
  await chmod(proxy.socketPath, 0o666);
  return {
    socketPath: proxy.socketPath,
    [Symbol.asyncDispose]: async () => {
      await proxy.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

describe('ironclaw doctor --network', () => {
  test('in a bwrap box, every attack is blocked with its reason and the allowed host works', async () => {
    const state = await freshStateDir();
    // bwrap alone: the other drivers' egress is tested in egress-bridge.test.ts; booting them
    // here too cost two minutes of the suite.
    const result = await runCli(['doctor', '--network', '--json', '--driver', 'bwrap'], {
      env: { IRONCLAW_STATE_DIR: state },
    });
    await rm(state, { recursive: true, force: true });
    expect(result.code, result.stderr).toBe(0);
    const { checks } = JSON.parse(result.stdout) as { checks: DoctorCheck[] };
    const bwrap = byName(
      checks.filter((check) => check.name.startsWith('bwrap network: ')),
      'bwrap',
    );
    expect([...bwrap.keys()]).toEqual(['the allowed host', ...ATTACKS]);
    const allowed = bwrap.get('the allowed host');
    expect(allowed?.ok).toBe(true);
    expect(allowed?.detail).toMatch(
      /^works: GET http:\/\/127\.0\.0\.1:\d+\/allowed via the proxy -> 200 allowed /,
    );
    expect(allowed?.detail).toMatch(/CONNECT .* -> 200 allowed .*SOCKS .* -> 200 allowed /);
    for (const attack of ATTACKS) {
      const check = bwrap.get(attack);
      expect(check?.ok, `${attack}: ${check?.detail}`).toBe(true);
      expect(check?.detail, attack).toMatch(/^blocked: /);
      for (const reason of REASONS[attack] ?? []) expect(check?.detail, attack).toMatch(reason);
    }
    expect(checks.filter((check) => !check.name.startsWith('bwrap '))).toEqual([]);
  }, 120_000);

  test('--driver names one known driver, and only with --network', async () => {
    const unknown = await runCli(['doctor', '--network', '--driver', 'nope']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/unknown driver "nope"; this version has: bwrap, gvisor/);
    const plain = await runCli(['doctor', '--driver', 'bwrap']);
    expect(plain.code).not.toBe(0);
    expect(plain.stderr).toMatch(/--driver applies to `doctor --network` only/);
  });

  test('negative control: on the host network (no box), the attacks the box stops pass', async () => {
    await using targets = await startProbeTargets();
    const dir = await mkdtemp(join(tmpdir(), 'ironclaw-netcheck-'));
    try {
      await using proxy = await startEgressProxy({
        socketPath: join(dir, 'proxy.sock'),
        sandbox: 'sb-netcheck',
        rules: unwrap(parseAllowRules(targets.rules)),
      });
      await using bridge = await loopbackBridge(proxy.socketPath);
      // offLoopback false: on the host, a probe towards the metadata address or a public
      // resolver would really be sent.
      const config = {
        ...targets.config,
        proxy: { host: '127.0.0.1', port: bridge.port },
        offLoopback: false,
      };
      const run = await probeOnHost(config);
      const checks = byName(
        judgeProbe('host', parseProbeOutput(run.stdout, run.stderr, run.code), targets.leaks),
        'host',
      );
      expect(checks.get('the allowed host')?.ok).toBe(true);
      const passing = ['a direct TCP connect', 'UDP', 'DNS sent to a resolver'];
      if (targets.config.deniedIpv6) passing.push('IPv6');
      if (isRoot) passing.push('a raw socket');
      for (const attack of passing) {
        expect(checks.get(attack)?.ok, attack).toBe(false);
        expect(checks.get(attack)?.detail, attack).toMatch(/^PASSED: /);
      }
      expect(targets.leaks).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^GET \/direct-tcp on 127\.0\.0\.1/),
          'udp "udp"',
        ]),
      );
      // The proxy's layers are still on: what goes through it is still blocked.
      for (const attack of [
        'CONNECT to a denied host',
        'a relay through the allowed host to a denied one',
        'an IP literal',
        'a name that resolves to 127.0.0.1',
        'the cloud metadata address',
      ])
        expect(checks.get(attack)?.ok, `${attack}: ${checks.get(attack)?.detail}`).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);

  test('negative control: with the address policy opened for the denied server, the loopback name passes', async () => {
    await using targets = await startProbeTargets();
    // The decider keeps the doctor's rules; only the address policy gets the exact rule that
    // lets `localhost` (127.0.0.1) through on the denied server's port: that layer, off there.
    const opened = [...targets.rules, `127.0.0.1:${targets.config.denied.port}`];
    await using proxy = await boxProxy(opened, targets.rules);
    await using box = await createSandbox({ egressSocket: proxy.socketPath });
    const report = await runProbeInBox(box, { ...targets.config, offLoopback: true });
    const checks = byName(judgeProbe('bwrap', report, targets.leaks), 'bwrap');
    const loopback = checks.get('a name that resolves to 127.0.0.1');
    expect(loopback?.ok).toBe(false);
    expect(loopback?.detail).toMatch(
      /^PASSED: CONNECT localhost:\d+ via the proxy, GET \/loopback-name in the tunnel -> 200 denied /,
    );
    expect(targets.leaks).toContainEqual(
      expect.stringMatching(/^GET \/loopback-name on 127\.0\.0\.1/),
    );
    for (const attack of ATTACKS.filter((name) => name !== 'a name that resolves to 127.0.0.1'))
      expect(checks.get(attack)?.ok, `${attack}: ${checks.get(attack)?.detail}`).toBe(true);
  }, 60_000);
});
