import { readFile } from 'node:fs/promises';
import { IronClawError, toIronClawError } from '../core/errors.js';
import { DEFAULT_DRIVER, DRIVER_LIST, driverFor, driverNamed } from '../drivers/index.js';
import type { Driver } from '../host/driver.js';
import { netProbeBundlePath } from '../host/package-files.js';
import { startProbeTargets } from '../network/probe-targets.js';
import {
  NET_PROBE_ATTACKS,
  NetProbeReportSchema,
  type NetProbeAttack,
  type NetProbeConfig,
  type NetProbeReport,
} from '../protocol/net-probe-api.js';
import { createSandbox } from './create-sandbox.js';
import type { DoctorCheck } from './doctor.js';
import type { Sandbox } from './sandbox.js';

/** How each attack of issue 14 §7 reads in the report. */
const TITLES: Record<NetProbeAttack, string> = {
  allowed: 'the allowed host',
  'direct-tcp': 'a direct TCP connect',
  udp: 'UDP',
  dns: 'DNS sent to a resolver',
  ipv6: 'IPv6',
  'connect-denied': 'CONNECT to a denied host',
  relay: 'a relay through the allowed host to a denied one',
  'ip-literal': 'an IP literal',
  'loopback-name': 'a name that resolves to 127.0.0.1',
  metadata: 'the cloud metadata address',
  'raw-socket': 'a raw socket',
};

/** Where the probe is written in the box: /tmp is the box's own, gone with it. */
const PROBE_IN_BOX = '/tmp/ironclaw-net-probe.mjs';

/** The probe and its whole run may take this long (every attempt has its own 5 s deadline). */
const PROBE_TIMEOUT_MS = 120_000;

/**
 * `ironclaw doctor --network`: for the default driver and every other driver that can run here
 * and declares egress, boots a box allowed to reach one loopback server of the host's, runs the
 * probe in it and reports each attack as blocked (with what it met) and the allowed host as
 * working. A driver that is missing here or has no egress is reported, optional; one that runs
 * and leaks fails the doctor. Given a driver name, only that driver is tested, and not being
 * able to test it fails.
 */
export async function runNetworkDoctor(only?: string): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const drivers = only === undefined ? DRIVER_LIST : [driverNamed(only)];
  for (const driver of drivers) {
    const optional = only === undefined && driver !== DEFAULT_DRIVER;
    const skip = await unusable(driver);
    if (skip !== undefined) {
      checks.push({ name: `${driver.name} network`, ok: false, optional, detail: skip });
      continue;
    }
    try {
      checks.push(...(await driverNetworkChecks(driver)));
    } catch (error) {
      const failure = toIronClawError(error);
      checks.push({
        name: `${driver.name} network self-test`,
        ok: false,
        detail: `${failure.code}: ${failure.message}`,
      });
    }
  }
  return checks;
}

/** Why a driver's network is not tested here, or undefined when it is. */
async function unusable(driver: Driver): Promise<string | undefined> {
  try {
    driverFor(driver.name, { egress: true });
  } catch (error) {
    return `not tested: ${toIronClawError(error).message}`;
  }
  const probed = await driver.probe();
  return probed.ok ? undefined : `not tested: ${probed.detail}`;
}

async function driverNetworkChecks(driver: Driver): Promise<DoctorCheck[]> {
  await using targets = await startProbeTargets();
  await using box = await createSandbox({ driver: driver.name, allowNet: targets.rules });
  const report = await runProbeInBox(box, { ...targets.config, offLoopback: true });
  return judgeProbe(driver.name, report, targets.leaks);
}

/** Writes the probe into the box and runs it with the box's node; its report, checked. */
export async function runProbeInBox(box: Sandbox, config: NetProbeConfig): Promise<NetProbeReport> {
  await box.writeFile(PROBE_IN_BOX, await readFile(await netProbeBundlePath()));
  const run = await box.exec(['node', PROBE_IN_BOX, JSON.stringify(config)], {
    timeoutMs: PROBE_TIMEOUT_MS,
  });
  return parseProbeOutput(run.stdout.toString(), run.stderr.toString(), run.exitCode);
}

/** The probe's one JSON line, validated: the box is not trusted to write what we expect. */
export function parseProbeOutput(
  stdout: string,
  stderr: string,
  exitCode: number | null,
): NetProbeReport {
  const line = stdout.trim().split('\n').at(-1) ?? '';
  const parsed = (() => {
    try {
      return NetProbeReportSchema.safeParse(JSON.parse(line));
    } catch {
      return undefined;
    }
  })();
  if (exitCode !== 0 || !parsed?.success)
    throw new IronClawError(
      'INTERNAL',
      `the network probe in the box failed (${exitCode === null ? 'killed' : `exit code ${exitCode}`}): ${(stderr.trim() || line).slice(0, 1000)}`,
    );
  return parsed.data;
}

/** Which attack a request or datagram that reached a denied server came from (its path). */
function leakAttack(leak: string): NetProbeAttack | undefined {
  if (leak === 'udp "udp"') return 'udp';
  if (leak.startsWith('udp ')) return 'dns';
  if (leak.startsWith('GET /latest/meta-data/')) return 'metadata';
  const path = /^GET \/([a-z-]+)/.exec(leak)?.[1];
  return NET_PROBE_ATTACKS.find((attack) => attack === path);
}

/**
 * One check per attack: ok when nothing got through, by the probe's account and by the host's
 * (its denied servers saw nothing from that attack); the allowed host, ok when it worked.
 * Traffic on a denied server that no attack claims is a failed check of its own.
 */
export function judgeProbe(
  prefix: string,
  report: NetProbeReport,
  leaks: readonly string[],
): DoctorCheck[] {
  const seen = new Map<NetProbeAttack | undefined, string[]>();
  for (const leak of leaks)
    seen.set(leakAttack(leak), [...(seen.get(leakAttack(leak)) ?? []), leak]);
  const checks = report.results.map((result): DoctorCheck => {
    const name = `${prefix} network: ${TITLES[result.attack]}`;
    const attempts = result.attempts.join('; ');
    if (result.attack === 'allowed')
      return {
        name,
        ok: result.through,
        detail: `${result.through ? 'works' : 'FAILS'}: ${attempts}`,
      };
    if (result.skipped) return { name, ok: false, optional: true, detail: attempts };
    const hits = seen.get(result.attack) ?? [];
    const through = result.through || hits.length > 0;
    const host = hits.length > 0 ? `; the host's denied servers saw: ${hits.join(', ')}` : '';
    return { name, ok: !through, detail: `${through ? 'PASSED' : 'blocked'}: ${attempts}${host}` };
  });
  const stray = seen.get(undefined);
  if (stray)
    checks.push({
      name: `${prefix} network: traffic no attack claims`,
      ok: false,
      detail: `the host's denied servers saw: ${stray.join(', ')}`,
    });
  return checks;
}
