import { execFile } from 'node:child_process';
import { access, constants, stat } from 'node:fs/promises';
import { release } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { IronClawError, toIronClawError } from '../../core/errors.js';
import { resolveLimits } from '../../core/limits.js';
import { BOX_ENV } from '../../host/box-env.js';
import { launchBox } from './bundle.js';
import { makeRuntimeDir } from './runtime-dir.js';
import { cachedProbe } from '../../host/probe-cache.js';
import type { Exit, GvisorPlatform } from './runsc.js';

const execFileAsync = promisify(execFile);

/** How long a kvm probe box may take to start and exit before kvm is taken as unusable. */
const KVM_PROBE_TIMEOUT_MS = 1000;

/** The platform gVisor boxes use on this host, and why it was chosen. */
export interface PlatformChoice {
  runsc: string;
  version: string;
  platform: GvisorPlatform;
  /** Why not a faster platform, e.g. "kvm probe timed out after 1000 ms; ...". */
  reason: string;
}

/** What runsc offers, as input to `choosePlatform`. */
export interface PlatformFacts {
  version: string;
  /** Platforms `runsc help platforms` lists. */
  listed: readonly string[];
  /** Outcome of the kvm probe box, when one was run. */
  kvm: { ok: true; ms: number } | { ok: false; reason: string };
}

/**
 * The platform rule, kept pure so it is tested by table: kvm only where a probe box really
 * started; else systrap where this runsc has it; else ptrace, which works wherever runsc does.
 */
export function choosePlatform(facts: PlatformFacts): { platform: GvisorPlatform; reason: string } {
  if (facts.kvm.ok) return { platform: 'kvm', reason: `kvm probe box ran in ${facts.kvm.ms} ms` };
  if (facts.listed.includes('systrap')) return { platform: 'systrap', reason: facts.kvm.reason };
  return {
    platform: 'ptrace',
    reason: `${facts.kvm.reason}; runsc ${facts.version} has no systrap platform`,
  };
}

let cached: Promise<PlatformChoice> | undefined;

/** The platform for this process's gVisor boxes, probed for real once and then cached. */
export function gvisorPlatform(): Promise<PlatformChoice> {
  cached ??= probePlatform().catch((error: unknown) => {
    cached = undefined; // a missing runsc may be installed meanwhile
    throw error;
  });
  return cached;
}

/**
 * Asking runsc its version and platforms, and booting a kvm probe box where kvm is listed, costs
 * from tens of milliseconds to a second (where kvm hangs). The verdict is kept in the state
 * directory for as long as the runsc binary, the kernel and /dev/kvm stay the same, so a one-shot
 * `ironclaw exec --driver gvisor` does not pay for it every time.
 */
async function probePlatform(): Promise<PlatformChoice> {
  const runsc = await runscBinary();
  const [binary, device] = await Promise.all([
    stat(runsc).then((info) => `${info.ino}:${info.size}:${info.mtimeMs}`),
    stat('/dev/kvm').then(
      (info) => `${info.rdev}:${info.ctimeMs}`,
      () => 'none',
    ),
  ]);
  const key = [runsc, binary, release(), device].join('|');
  return cachedProbe('gvisor-platform', key, async () => {
    const [version, platforms] = await Promise.all([
      execFileAsync(runsc, ['--version'], { timeout: 5000 }).then(
        ({ stdout }) => /version (\S+)/.exec(stdout)?.[1] ?? 'unknown',
      ),
      execFileAsync(runsc, ['help', 'platforms'], { timeout: 5000 }).then(({ stdout }) =>
        stdout.split('\n').map((line) => line.trim()),
      ),
    ]);
    const kvm = platforms.includes('kvm')
      ? await probeKvm(runsc)
      : { ok: false as const, reason: 'this runsc has no kvm platform' };
    return { runsc, version, ...choosePlatform({ version, listed: platforms, kvm }) };
  });
}

async function probeKvm(runsc: string): Promise<PlatformFacts['kvm']> {
  const usable = await access('/dev/kvm', constants.R_OK | constants.W_OK).then(
    () => true,
    () => false,
  );
  if (!usable) return { ok: false, reason: 'no usable /dev/kvm' };
  const started = performance.now();
  const outcome = await runProbeBox(runsc, 'kvm', ['/bin/true'], KVM_PROBE_TIMEOUT_MS);
  const ms = Math.round(performance.now() - started);
  if (outcome.exit?.code === 0) return { ok: true, ms };
  return {
    ok: false,
    reason: outcome.exit
      ? `kvm probe box failed (${outcome.exit.signal ?? `exit code ${outcome.exit.code}`}): ${outcome.tail}`
      : `kvm probe timed out after ${KVM_PROBE_TIMEOUT_MS} ms`,
  };
}

/**
 * Runs `argv` as a one-shot box on `platform` and waits at most `timeoutMs` for it to exit.
 * Whatever happens, the box is destroyed and its runtime directory removed before this returns.
 */
async function runProbeBox(
  runsc: string,
  platform: GvisorPlatform,
  argv: readonly string[],
  timeoutMs: number,
): Promise<{ exit: Exit | undefined; tail: string }> {
  const runtime = await makeRuntimeDir(`probe-${platform}`);
  try {
    const box = await launchBox(runtime, {
      runsc,
      platform,
      limits: resolveLimits(),
      args: argv,
      env: BOX_ENV,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    box.child.stderr?.on('data', (chunk: Buffer) => box.tail.push(chunk));
    const timer = new Promise<undefined>((resolve) =>
      setTimeout(() => resolve(undefined), timeoutMs).unref(),
    );
    const exit = await Promise.race([box.exited, timer]);
    await box.destroy();
    return { exit, tail: box.tail.text().trim() };
  } finally {
    await runtime.remove();
  }
}

/** runsc: IRONCLAW_RUNSC, else the first runsc on PATH or in /usr/bin and /usr/sbin. */
export async function runscBinary(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (env.IRONCLAW_RUNSC) return env.IRONCLAW_RUNSC;
  const dirs = [...(env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/bin', '/usr/sbin'];
  for (const dir of dirs) {
    const path = join(dir, 'runsc');
    if (await isExecutable(path)) return path;
  }
  throw new IronClawError(
    'DRIVER_UNAVAILABLE',
    'gVisor is not installed: no runsc on PATH; install it with `apt-get install runsc` (or set IRONCLAW_RUNSC)',
  );
}

function isExecutable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

/** What `ironclaw doctor` shows for gVisor: a real box started on the chosen platform. */
export interface GvisorProbe {
  ok: boolean;
  platform?: GvisorPlatform;
  detail: string;
  fix?: string;
}

/** The probe box's status when coreutils' `ls /` fails in it (see probeGvisor). */
const STATX_FLAW = 3;

/**
 * Probes gVisor for real: picks the platform, then runs a box and checks it ran as uid 1000,
 * and whether `ls /` works in it (Debian 12's runsc fails the statx flag coreutils 9 passes).
 */
export async function probeGvisor(): Promise<GvisorProbe> {
  let choice: PlatformChoice;
  try {
    choice = await gvisorPlatform();
  } catch (error) {
    const failure = toIronClawError(error);
    return {
      ok: false,
      detail: `${failure.code}: ${failure.message}`,
      fix:
        failure.code === 'DRIVER_UNAVAILABLE'
          ? 'apt-get install runsc'
          : 'see the error above; `ironclaw doctor` as root shows whether gVisor works at all',
    };
  }
  const started = performance.now();
  const outcome = await runProbeBox(
    choice.runsc,
    choice.platform,
    // Exit 3: the box works, but its runsc fails statx(AT_NO_AUTOMOUNT), which `ls PATH` uses.
    ['/bin/sh', '-c', 'test "$(id -u)" = 1000 || exit 1; ls / >/dev/null 2>&1 || exit 3'],
    15_000,
  ).catch((error: unknown) => ({ exit: undefined, tail: toIronClawError(error).message }));
  const ms = Math.round(performance.now() - started);
  const where = `runsc ${choice.version}, platform ${choice.platform} (${choice.reason})`;
  if (outcome.exit?.code === 0 || outcome.exit?.code === STATX_FLAW) {
    const flaw =
      outcome.exit.code === STATX_FLAW
        ? '; but this runsc rejects statx with AT_NO_AUTOMOUNT, so `ls PATH`, `stat` and the like fail with "Invalid argument" inside gVisor boxes (newer gVisor releases accept it)'
        : '';
    return {
      ok: true,
      platform: choice.platform,
      detail: `${where}: a box started, ran as uid 1000 and exited in ${ms} ms${flaw}`,
    };
  }
  return {
    ok: false,
    platform: choice.platform,
    detail: `${where}: the probe box ${outcome.exit ? `exited with ${outcome.exit.signal ?? `code ${outcome.exit.code}`}` : 'did not finish'}: ${outcome.tail || 'no output'}`,
    fix: 'run the probe as root (or check that runsc --rootless works for this user); runsc log lines are quoted above',
  };
}
