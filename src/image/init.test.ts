import { spawn } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import { BOX_ENV } from '../host/box-env.js';
import {
  AGENT_PORT_NAME,
  CONTROL_PORT_NAME,
  RESTORE_HELPER,
  stage1Script,
  stage2Script,
} from './init.js';

/** busybox's sh, as the guest runs it; -n parses a script without running it. */
const SYNTAX_CHECK = ['busybox', 'sh', '-n'];

/** Parses `script` with busybox's sh, without running it. */
function syntaxCheck(script: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const [file = '', ...args] = SYNTAX_CHECK;
    const child = spawn(file, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stderr }));
    child.stdin.end(script);
  });
}

const hasBusybox = await syntaxCheck('true').then(
  () => true,
  () => false,
);
const skip = hasBusybox ? '' : ' [skipped: no busybox; apt-get install busybox-static]';

describe('guest init scripts', () => {
  const stage1 = stage1Script(['virtio_ring', 'virtio', 'virtio_mmio']);
  const stage2 = stage2Script({ ...BOX_ENV, QUOTE: "it's" });

  test.skipIf(!hasBusybox)(`both stages parse as busybox sh scripts${skip}`, async () => {
    for (const script of [stage1, stage2]) {
      const checked = await syntaxCheck(script);
      expect(checked.stderr).toBe('');
      expect(checked.code).toBe(0);
    }
  });

  test('stage 1 loads the modules in the given order and finds the port by its name', () => {
    expect(stage1).toMatch(/^#!\/bin\/busybox sh\n/);
    expect(stage1).toContain('for module in virtio_ring virtio virtio_mmio; do');
    expect(stage1).toContain(`${AGENT_PORT_NAME}) port=`);
    expect(stage1).toContain(`${CONTROL_PORT_NAME}) control=`);
    expect(stage1).toContain('mount -t ext4 -o ro,noload,nodev,nosuid');
  });

  test('stage 2 starts the agent as uid 1000 with no privileges, in the box cgroup, with only the box env', () => {
    expect(stage2).toContain(
      '--reuid=1000 --regid=1000 --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs',
    );
    expect(stage2).toContain('/sys/fs/cgroup/box/cgroup.procs');
    expect(stage2).toContain('hidepid=invisible');
    expect(stage2).toContain("/usr/bin/env -i 'PATH=");
    expect(stage2).toContain(`'QUOTE=it'\\''s'`);
  });

  test('stage 2 starts the restore helper as root, outside the box cgroup, before the agent', () => {
    const helper = stage2.indexOf('/.ironclaw/restore.py "$control"');
    expect(helper).toBeGreaterThan(0);
    expect(helper).toBeLessThan(stage2.indexOf('cgroup.procs'));
  });

  test('the restore helper reseeds the kernel generator and sets the clock, and only on request', () => {
    expect(RESTORE_HELPER).toContain('RNDRESEEDCRNG = 0x5207');
    expect(RESTORE_HELPER).toContain('time.clock_settime_ns(time.CLOCK_REALTIME');
    expect(RESTORE_HELPER).toMatch(/if len\(seed\) < 32:/);
  });

  test('the restore helper sets the port floor on request only, and says the old one', () => {
    expect(RESTORE_HELPER).toContain(
      'PORT_FLOOR = "/proc/sys/net/ipv4/ip_unprivileged_port_start"',
    );
    expect(RESTORE_HELPER).toContain('elif words[:1] == ["floor"]:');
    expect(RESTORE_HELPER).toContain('say("floor " + floor(words))');
    expect(RESTORE_HELPER).toMatch(/int\(words\[1\]\) > 65535/);
  });

  test('the restore helper waits for the port to open on its SIGIO, not on a sleep', () => {
    expect(RESTORE_HELPER).not.toContain('time.sleep');
    expect(RESTORE_HELPER).toContain('signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGIO])');
    expect(RESTORE_HELPER).toContain('os.O_ASYNC');
    expect(RESTORE_HELPER).toContain('signal.sigtimedwait([signal.SIGIO]');
  });
});
