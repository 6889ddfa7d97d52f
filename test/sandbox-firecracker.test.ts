import { execFile } from 'node:child_process';
import { access, readFile, readlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createSandbox, type Sandbox } from '../src/index.js';
import { firecrackerUnavailable } from '../src/drivers/firecracker/tools.js';
import { ensureImage } from '../src/image/build.js';
import { qemuBinary } from '../src/drivers/qemu/launch.js';
import { probeCgroups } from './support/cgroup-probe.js';
import { expectBoxUid } from './support/box-uid.js';
import { defineSandboxSuite } from './suites/sandbox-suite.js';

// The same suite as the other drivers', against Firecracker micro-VMs, and what only a
// Firecracker box has: its jail. It needs root, /dev/kvm that really boots a guest, and the
// firecracker and jailer binaries; without them every test here is skipped, with the reason.
const uid = process.getuid?.() ?? -1;
const missing = (await firecrackerUnavailable()) ?? (await kvmCannotBoot());

/** A /dev/kvm that exists is not enough (a nested KVM may hang any guest): ask qemu's probe. */
async function kvmCannotBoot(): Promise<string | undefined> {
  const hasQemu = await promisify(execFile)(qemuBinary(), ['--version']).then(
    () => true,
    () => false,
  );
  if (!hasQemu) return undefined; // nothing to ask: the boot itself will tell
  const { chooseAccel } = await import('../src/drivers/qemu/accel.js');
  const accel = await chooseAccel(await ensureImage());
  return accel.accel === 'kvm' ? undefined : `KVM cannot boot a guest here: ${accel.detail}`;
}

if (missing === undefined) {
  defineSandboxSuite('firecracker', {
    hostPidNamespace: false,
    cgroups: await probeCgroups(uid),
    vm: true,
    createDefaults: { startTimeoutMs: 30_000 },
  });

  describe('firecracker driver: the jail', () => {
    let box: Sandbox;
    let root: string;
    beforeAll(async () => {
      box = await createSandbox({ driver: 'firecracker' });
      root = await readlink(`/proc/${box.boxPid}/root`);
    });
    afterAll(async () => {
      await box?.destroy();
    });

    test('the VMM runs as the box uid, chrooted, as pid 1 of its own pid namespace, under seccomp', async () => {
      const status = await readFile(`/proc/${box.boxPid}/status`, 'utf8');
      const uid = box.isolation.hostUid;
      expectBoxUid(uid);
      expect(status).toMatch(new RegExp(`^Uid:\\s+${uid}\\s+${uid}\\s+${uid}\\s+${uid}$`, 'm'));
      expect(status).toMatch(/^Seccomp:\s+2$/m);
      expect(status).toMatch(new RegExp(`^NSpid:\\s+${box.boxPid}\\s+1$`, 'm'));
      expect(root).toMatch(/\/jail\/firecracker\/[a-z0-9-]+\/root$/);
      expect(box.isolation.layers.kernel?.detail).toMatch(/jailer/);
    });

    test('destroy kills the VMM and removes its jail directory', async () => {
      const other = await createSandbox({ driver: 'firecracker' });
      const pid = other.boxPid;
      const jail = dirname(await readlink(`/proc/${pid}/root`));
      await other.destroy();
      const running = (): Promise<string> =>
        readFile(`/proc/${pid}/status`, 'utf8').then(
          (text) => /^State:\s+(\S)/m.exec(text)?.[1] ?? '?',
          () => 'gone',
        );
      await expect.poll(running).toMatch(/gone|Z/);
      await expect(access(jail)).rejects.toThrow();
    });
  });
} else {
  describe('sandbox suite (firecracker)', () => {
    test.skip(`[skipped: ${missing}]`, () => undefined);
  });
}
