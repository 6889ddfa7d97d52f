// The guest half of a Firecracker box, booted for real: the same image and the kernel command
// line the firecracker driver gives (firecrackerCmdline), under QEMU with TCG since Firecracker
// cannot run here. No virtio-serial port and no vsock device: init must start the agent in vsock
// mode without waiting for a port, the agent's relay must bind its AF_VSOCK port (it logs to the
// console if it cannot), and a failing init must end the VM by a reset, which is what makes
// Firecracker exit (QEMU's -no-reboot makes it exit on a reset too).
import { execFile, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { resolveLimits } from '../src/core/limits.js';
import { firecrackerCmdline } from '../src/drivers/firecracker/config.js';
import { ensureImage } from '../src/image/build.js';
import type { GuestImage } from '../src/image/store.js';
import { qemuBinary } from '../src/drivers/qemu/launch.js';
import { tscKhzFromCpuinfo } from '../src/image/vm-guest.js';

let image: GuestImage | undefined;
const missing = await promisify(execFile)(qemuBinary(), ['--version']).then(
  () =>
    ensureImage().then(
      (built) => void (image = built),
      (error: Error) => `the guest image cannot be built here: ${error.message}`,
    ),
  () => `${qemuBinary()} is not installed (apt-get install qemu-system-x86)`,
);
const skip = missing === undefined ? '' : ` [skipped: ${missing}]`;
const tscKhz = tscKhzFromCpuinfo(await readFile('/proc/cpuinfo', 'utf8'));

/** Boots the image with `cmdline` (plus what TCG needs); resolves at the VMM's exit or `until`. */
function boot(
  cmdline: string,
  until: (console: string) => boolean,
): Promise<{ console: string; exited: boolean }> {
  const args = [
    ...['-M', 'microvm,x-option-roms=off,pit=off,pic=off,isa-serial=on,rtc=on,acpi=on'],
    ...['-accel', 'tcg', '-cpu', 'max', '-m', '256M', '-smp', '1'],
    ...['-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot'],
    ...['-kernel', image!.kernel.path, '-initrd', image!.initramfs],
    ...['-append', `${cmdline} tsc_early_khz=${tscKhz}`],
    ...['-chardev', 'stdio,id=console,signal=off', '-serial', 'chardev:console'],
    ...['-drive', `id=root,file=${image!.rootfs},format=raw,if=none,readonly=on`],
    ...['-device', 'virtio-blk-device,drive=root'],
  ];
  const qemu = spawn(qemuBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  return new Promise((resolve) => {
    // Asked on every console line and every 200 ms (a quiet console still moves the clock).
    const started = Date.now();
    const poll = setInterval(
      () => (until(text) || Date.now() - started > 90_000) && done(false),
      200,
    );
    const done = (exited: boolean): void => {
      clearInterval(poll);
      if (!exited && qemu.exitCode === null) qemu.kill('SIGKILL');
      resolve({ console: text, exited });
    };
    qemu.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (until(text)) done(false);
    });
    qemu.once('close', () => done(true));
  });
}

describe.skipIf(missing !== undefined)(`the guest image in Firecracker mode${skip}`, () => {
  const cmdline = firecrackerCmdline(resolveLimits());

  test('init starts the agent on its vsock port with no serial port, and the relay binds it', async () => {
    let agentAt = 0;
    const { console, exited } = await boot(cmdline, (text) => {
      if (agentAt === 0 && text.includes('starting the guest agent')) agentAt = Date.now();
      // A relay that cannot bind logs within a second or two; give it four.
      return agentAt > 0 && Date.now() - agentAt > 4000;
    });
    expect(exited, console).toBe(false);
    expect(console).toContain('starting the guest agent');
    expect(console).not.toMatch(/FAILED|relay .* failed|no virtio-serial/);
  }, 120_000);

  test('…and a relay that cannot bind says so there (port 80 is root’s, the agent is uid 1000)', async () => {
    const privileged = cmdline.replace(/ironclaw\.vsock=\d+/, 'ironclaw.vsock=80');
    const { console } = await boot(privileged, (text) => /relay on 80 failed[^\n]*\n/.test(text));
    expect(console).toMatch(/the vsock relay on 80 failed \(1\): .*PermissionError/s);
  }, 120_000);

  test('the agent refuses to start when the image holds another filter than the host names', async () => {
    const wrong = firecrackerCmdline(resolveLimits(), '0'.repeat(64));
    const { console, exited } = await boot(wrong, () => false);
    expect(exited).toBe(true);
    expect(console).toMatch(
      /the host asked for its seccomp filter and this image cannot apply it \(\/\.ironclaw\/seccomp\.bpf has sha256 [0-9a-f]{64}, the host compiled 0{64}\)/,
    );
    expect(console).toContain('the guest agent exited with status 1');
  }, 120_000);

  test('a failing init resets the VM, so the VMM exits (ironclaw.halt=reboot)', async () => {
    const broken = cmdline.replace(/ironclaw\.tmp=\d+/, 'ironclaw.tmp=not-a-size');
    const { console, exited } = await boot(broken, () => false);
    expect(exited).toBe(true);
    expect(console).toContain('FAILED: mount /tmp');
    expect(console).toContain('reboot: Restarting system');
    expect(console).not.toContain('Power down');
  }, 120_000);
});
