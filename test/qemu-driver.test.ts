import { access, chmod, mkdtemp, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createSandbox, runOnce, type Sandbox } from '../src/index.js';
import { resolveLimits } from '../src/core/limits.js';
import { PingResultSchema } from '../src/protocol/guest-api.js';
import { RpcClient } from '../src/protocol/rpc-client.js';
import { ensureImage } from '../src/image/build.js';
import { chooseAccel } from '../src/drivers/qemu/accel.js';
import { qemuArgs } from '../src/drivers/qemu/args.js';
import { kernelCmdline, tscKhzFromCpuinfo } from '../src/image/vm-guest.js';
import { launchVm } from '../src/drivers/qemu/launch.js';
import { makeVmRuntimeDir } from '../src/drivers/qemu/runtime-dir.js';
import { QmpClient } from '../src/drivers/qemu/qmp.js';
import { qemuDriver } from '../src/drivers/qemu/index.js';
import { qemuMissing } from './support/qemu-missing.js';
import { expectCode } from './support/expect-code.js';
import { expectBoxUid } from './support/box-uid.js';

// What the shared suite cannot see of a QEMU box: its VMM on the host, the VMM's control
// socket, the evidence kept when a start fails, and that nothing is left after destroy.
const missing = await qemuMissing();
const skip = missing === undefined ? '' : ` [skipped: ${missing}]`;

const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

/** The VM's runtime directory, from the agent socket path on QEMU's command line. */
async function runtimeDirOf(pid: number): Promise<string> {
  const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
  const socket = argv.find((arg) => arg.startsWith('socket,id=agent,path='));
  if (!socket) throw new Error(`no agent chardev on QEMU's command line: ${argv.join(' ')}`);
  return dirname(socket.slice('socket,id=agent,path='.length));
}

describe.skipIf(missing !== undefined)(`qemu driver${skip}`, () => {
  describe('a running VM', () => {
    let box: Sandbox;
    let dir: string;
    beforeAll(async () => {
      // Booted cold, so its console holds the boot (a clone's starts after the template's).
      box = await createSandbox({ driver: 'qemu', template: false, startTimeoutMs: 60_000 });
      dir = await runtimeDirOf(box.boxPid);
    });
    afterAll(async () => {
      await box?.destroy();
    });

    test('the VMM is jailed: unprivileged, no new privileges, under seccomp (QEMU -sandbox on)', async () => {
      const status = await readFile(`/proc/${box.boxPid}/status`, 'utf8');
      expect(status).toMatch(/^Seccomp:\s+2$/m);
      expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
      expect(status).toMatch(/^CapEff:\s+0{16}$/m);
      const uid = box.isolation.hostUid;
      expectBoxUid(uid);
      expect(status).toMatch(new RegExp(`^Uid:\\s+${uid}\\s+${uid}\\s+${uid}\\s+${uid}$`, 'm'));
      expect((await stat(dir)).mode & 0o777).toBe(0o700);
    });

    test('the VMM has its own mount, pid and network namespaces and sees only what it needs', async () => {
      for (const kind of ['mnt', 'pid', 'net', 'ipc', 'uts'])
        expect(await readlink(`/proc/${box.boxPid}/ns/${kind}`), kind).not.toBe(
          await readlink(`/proc/self/ns/${kind}`),
        );
      const root = `/proc/${box.boxPid}/root`;
      expect(await exists(`${root}/usr/bin`)).toBe(true);
      expect(await exists(`${root}${dir}/agent.sock`)).toBe(true); // its runtime directory
      for (const hidden of [
        '/home',
        '/root',
        '/var/tmp',
        '/etc/passwd',
        '/run/ironclaw/daemon.sock',
      ])
        expect(await exists(`${root}${hidden}`), hidden).toBe(false);
    });

    test('answers on its QMP socket: the machine is running', async () => {
      const signal = AbortSignal.timeout(10_000);
      const qmp = await QmpClient.connect(join(dir, 'qmp.sock'), signal);
      try {
        expect(await qmp.execute('query-status', {}, signal)).toMatchObject({ status: 'running' });
      } finally {
        qmp.close();
      }
    });

    test("keeps QEMU's stderr and the guest console in files; the report names KVM or TCG and why", async () => {
      expect(await readFile(join(dir, 'console.log'), 'utf8')).toMatch(
        /ironclaw-init: .*starting the guest agent/,
      );
      expect(await exists(join(dir, 'qemu.log'))).toBe(true);
      expect(box.isolation.layers.kernel?.detail).toMatch(
        /(KVM \(hardware virtualisation\): a probe VM booted|TCG \(emulation\): .+)/,
      );
    });

    test('the guest keeps time with the TSC, not the 4 ms jiffies clock', async () => {
      // Under TCG the kernel drops the TSC unless told it is reliable (see qemu-args.ts); on
      // jiffies it loses high-resolution timers and tickless idle.
      const result = await box.exec([
        'cat',
        '/sys/devices/system/clocksource/clocksource0/current_clocksource',
      ]);
      expect(result.stdout.toString().trim()).toBe(
        box.isolation.layers.kernel?.detail?.startsWith('KVM') ? 'kvm-clock' : 'tsc',
      );
    });

    test('destroy ends the VMM and removes every file of the VM', async () => {
      const pid = box.boxPid;
      await box.destroy();
      expect(await exists(dir)).toBe(false);
      expect(await exists(`/proc/${pid}`)).toBe(false);
    });
  });

  test('after the host closes the agent connection, QEMU dials again and the same agent serves it', async () => {
    const image = await ensureImage();
    const accel = (await chooseAccel(image)).accel;
    const tscKhz = tscKhzFromCpuinfo(await readFile('/proc/cpuinfo', 'utf8'));
    const runtime = await makeVmRuntimeDir('reconnect');
    const args = qemuArgs(
      { kernel: image.kernel.path, initramfs: image.initramfs, rootfs: image.rootfs, ...runtime },
      {
        accel,
        memoryMiB: 256,
        cpus: 1,
        cmdline: kernelCmdline({ accel, tscKhz, limits: resolveLimits() }),
      },
    );
    const vm = await launchVm(runtime, args, {
      signal: AbortSignal.timeout(20_000),
      files: [image.kernel.path, image.initramfs, image.rootfs],
      kvm: accel === 'kvm',
      rootVmmUid: 65534,
      control: true,
    });
    try {
      const ping = (client: RpcClient) =>
        client.request('ping', {}, PingResultSchema, { signal: AbortSignal.timeout(60_000) });
      const first = new RpcClient(vm.agent, { name: 'first session' });
      const before = await ping(first);
      first.close();
      const second = new RpcClient(await vm.nextAgent(AbortSignal.timeout(20_000)), {
        name: 'second session',
      });
      const after = await ping(second);
      expect(after.pid).toBe(before.pid); // the same agent process, a new session
      second.close();
    } finally {
      await vm.kill();
      await runtime.remove();
    }
  });

  test('a one-shot run goes through a VM: workspace in, output and exit status out, nothing left', async () => {
    const workspace = await mkdtemp(join(tmpdir(), 'ironclaw-qemu-ws-'));
    try {
      await writeFile(join(workspace, 'note.txt'), 'from the host\n');
      const result = await runOnce(['sh', '-c', 'cat note.txt; uname -r; echo err >&2; exit 3'], {
        driver: 'qemu',
        stdio: 'pipe',
        workspace,
      });
      expect(result.exitCode).toBe(3);
      expect(result.stdout.toString()).toMatch(/^from the host\n\d+\.\d+/);
      expect(result.stderr.toString()).toBe('err\n');
      expect(result.isolation.driver).toBe('qemu');
    } finally {
      await rm(workspace, { recursive: true, force: true });
    }
  }, 120_000);

  describe('fails fast, quoting the evidence', () => {
    let scratch: string;
    beforeAll(async () => {
      scratch = await mkdtemp(join(tmpdir(), 'ironclaw-qemu-'));
      await chmod(scratch, 0o755); // the jailed VMM (nobody, when run as root) reads the fake QEMU
    });
    afterAll(async () => {
      await rm(scratch, { recursive: true, force: true });
    });

    test('a VMM that exits at once fails the create at once, with its stderr', async () => {
      const fake = join(scratch, 'qemu');
      await writeFile(fake, '#!/bin/sh\necho "qemu: simulated start-up failure" >&2\nexit 1\n');
      await chmod(fake, 0o755);
      const saved = process.env.IRONCLAW_QEMU;
      process.env.IRONCLAW_QEMU = fake;
      try {
        // The fake VMM is a shell script, which IronClaw's VMM filter would kill: it is off here.
        const error = await expectCode(
          () => createSandbox({ driver: 'qemu', seccomp: 'none', startTimeoutMs: 60_000 }),
          'SANDBOX_START_FAILED',
        );
        // Its exit is the cause, not the 60 s start deadline running out.
        expect(error.message).toMatch(/exit code 1/);
        expect(error.message).not.toMatch(/did not start within/);
        expect(error.message).toContain('simulated start-up failure');
      } finally {
        if (saved === undefined) delete process.env.IRONCLAW_QEMU;
        else process.env.IRONCLAW_QEMU = saved;
      }
    });

    test('a guest whose agent cannot start powers off, and its box quotes the guest console', async () => {
      // pids.max 0 in the guest: node cannot start its threads, the agent exits, init powers off.
      // createSandbox refuses such a limit up front (below the driver's floor), so the driver is
      // asked directly, as createSandbox would.
      const outcome = await qemuDriver
        .spawn({
          id: 'qemu-pids-zero',
          limits: { pids: 0 },
          payload: { kind: 'agent' },
          cgroups: { available: false, reason: 'the guest kernel holds the limits' },
          rootBoxUid: 65534,
          template: false,
        })
        .then(
          async (vm) => {
            await vm.exited;
            const tail = vm.stderrTail();
            await vm.destroy();
            return tail;
          },
          (error: unknown) => (error instanceof Error ? error.message : String(error)),
        );
      expect(outcome).toMatch(/guest console: [^]*ironclaw-init: .*the guest agent exited/);
      await expectCode(
        () => createSandbox({ driver: 'qemu', limits: { pids: 0 } }),
        'INVALID_ARGUMENT',
      );
    });
  });
});
