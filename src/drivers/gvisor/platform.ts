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

/** How long a ptrace or systrap probe box may take; it runs a short workload, see PROBE_WORK. */
const PROBE_TIMEOUT_MS = 15_000;

/**
 * The timed probe workload: a few process starts (fork, exec, mmap, file lookups), the system
 * calls a box makes most, so the platform that intercepts them faster wins. Measured here, systrap was not always
 * the faster (nested virtualisation, busy cores), hence a race rather than a fixed preference.
 */
const PROBE_WORK = ['/bin/sh', '-c', 'for i in 1 2 3 4 5 6 7 8; do /bin/true; done'];

/** runsc in IronClaw's own directory, where setup.sh puts a current one (see README). */
export const OWN_RUNSC = '/opt/ironclaw/runsc/runsc';

/** The platform gVisor boxes use on this host, and why it was chosen. */
export interface PlatformChoice {
  runsc: string;
  version: string;
  platform: GvisorPlatform;
  /** Why this platform, e.g. "kvm: no usable /dev/kvm; systrap probe 420 ms, ptrace 610 ms". */
  reason: string;
}

/** Outcome of one timed probe box. */
export type ProbeOutcome = { ok: true; ms: number } | { ok: false; reason: string };

/** What runsc offers, as input to `choosePlatform`. */
export interface PlatformFacts {
  version: string;
  /** Outcome of the kvm probe box, or why none was run. */
  kvm: ProbeOutcome;
  /** Outcome of the ptrace and (where this runsc lists it) systrap probe boxes. */
  ptrace: ProbeOutcome;
  systrap?: ProbeOutcome;
}

/**
 * The platform rule, kept pure so it is tested by table: kvm only where a probe box really
 * started; else the faster of ptrace and systrap among those whose probe box ran; else ptrace,
 * which is where runsc fails most plainly (the doctor's probe box then says why).
 */
export function choosePlatform(facts: PlatformFacts): { platform: GvisorPlatform; reason: string } {
  if (facts.kvm.ok) return { platform: 'kvm', reason: `kvm probe box ran in ${facts.kvm.ms} ms` };
  const kvm = `kvm: ${facts.kvm.reason}`;
  const candidates = (['systrap', 'ptrace'] as const).flatMap((platform) => {
    const outcome = facts[platform];
    return outcome?.ok ? [{ platform, ms: outcome.ms }] : [];
  });
  const timings = (['systrap', 'ptrace'] as const)
    .map((platform) => {
      const outcome = facts[platform];
      if (outcome === undefined) return `runsc ${facts.version} has no systrap platform`;
      return outcome.ok ? `${platform} probe ${outcome.ms} ms` : `${platform}: ${outcome.reason}`;
    })
    .join(', ');
  const fastest = candidates.sort((a, b) => a.ms - b.ms)[0];
  return { platform: fastest?.platform ?? 'ptrace', reason: `${kvm}; ${timings}` };
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
  // 'timed': verdicts from before ptrace and systrap were raced are probed again.
  const key = ['timed', runsc, binary, release(), device].join('|');
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
    // One after the other: two probe boxes at once would time each other.
    const ptrace = await timedProbe(runsc, 'ptrace');
    const systrap = platforms.includes('systrap') ? await timedProbe(runsc, 'systrap') : undefined;
    const facts = { version, kvm, ptrace, ...(systrap ? { systrap } : {}) };
    return { runsc, version, ...choosePlatform(facts) };
  });
}

/** Runs PROBE_WORK on `platform` and times it, start to exit. */
async function timedProbe(runsc: string, platform: GvisorPlatform): Promise<ProbeOutcome> {
  const started = performance.now();
  const outcome = await runProbeBox(runsc, platform, PROBE_WORK, PROBE_TIMEOUT_MS).catch(
    (error: unknown) => ({ exit: undefined, tail: toIronClawError(error).message }),
  );
  const ms = Math.round(performance.now() - started);
  if (outcome.exit?.code === 0) return { ok: true, ms };
  return {
    ok: false,
    reason: outcome.exit
      ? `probe box failed (${outcome.exit.signal ?? `exit code ${outcome.exit.code}`}): ${outcome.tail || 'no output'}`
      : `probe box did not finish in ${PROBE_TIMEOUT_MS} ms${outcome.tail ? `: ${outcome.tail}` : ''}`,
  };
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

/**
 * runsc: IRONCLAW_RUNSC, else the current one setup.sh put in IronClaw's own directory, else the
 * first runsc on PATH or in /usr/bin and /usr/sbin (the distribution's, possibly too old).
 */
export async function runscBinary(
  env: NodeJS.ProcessEnv = process.env,
  own: string = OWN_RUNSC,
): Promise<string> {
  if (env.IRONCLAW_RUNSC) return env.IRONCLAW_RUNSC;
  if (await isExecutable(own)) return own;
  const dirs = [...(env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/bin', '/usr/sbin'];
  for (const dir of dirs) {
    const path = join(dir, 'runsc');
    if (await isExecutable(path)) return path;
  }
  throw new IronClawError(
    'DRIVER_UNAVAILABLE',
    'gVisor is not installed: no runsc on PATH; install it with `apt-get install runsc` or run setup.sh, which puts a current one in /opt/ironclaw/runsc (or set IRONCLAW_RUNSC)',
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
  const where = `runsc ${choice.version} (${choice.runsc}), platform ${choice.platform} (${choice.reason})`;
  if (outcome.exit?.code === 0 || outcome.exit?.code === STATX_FLAW) {
    const flaw =
      outcome.exit.code === STATX_FLAW
        ? '; but this runsc rejects statx with AT_NO_AUTOMOUNT, so `ls PATH`, `stat` and the like fail with "Invalid argument" inside gVisor boxes; setup.sh fetches a current runsc (Debian 13\'s) into /opt/ironclaw/runsc, which IronClaw then prefers'
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
