import { describe, expect, test } from 'vitest';
import { DEFAULT_LIMITS } from '../../core/limits.js';
import { qemuArgs } from './args.js';
import {
  DEFAULT_MEMORY_MIB,
  guestMemoryMiB,
  kernelCmdline,
  tscKhzFromCpuinfo,
} from '../../image/vm-guest.js';

const PATHS = {
  kernel: '/cache/vmlinux',
  initramfs: '/cache/initramfs.cpio',
  rootfs: '/cache/root,fs.ext4',
  agentSocket: '/run/vm/agent.sock',
  qmpSocket: '/run/vm/qmp.sock',
};

/** The value after each occurrence of `flag`. */
function values(args: readonly string[], flag: string): string[] {
  return args.flatMap((arg, index) => (arg === flag ? [args[index + 1] ?? ''] : []));
}

describe('qemuArgs', () => {
  const tcg = qemuArgs(PATHS, { accel: 'tcg', memoryMiB: 256, cpus: 1, cmdline: 'quiet' });

  test('a microvm with legacy devices off, ACPI and the RTC on, no defaults, no reboot', () => {
    expect(values(tcg, '-M')).toEqual([
      'microvm,x-option-roms=off,pit=off,pic=off,isa-serial=on,rtc=on,acpi=on',
    ]);
    expect(tcg).toEqual(expect.arrayContaining(['-nodefaults', '-no-user-config', '-no-reboot']));
    expect(values(tcg, '-m')).toEqual(['256M']);
    expect(values(tcg, '-smp')).toEqual(['1']);
    expect(values(tcg, '-kernel')).toEqual([PATHS.kernel]);
    expect(values(tcg, '-initrd')).toEqual([PATHS.initramfs]);
    expect(values(tcg, '-append')).toEqual(['quiet']);
  });

  test('TCG emulates the most capable CPU; KVM passes the host CPU through', () => {
    expect(values(tcg, '-accel')).toEqual(['tcg']);
    expect(values(tcg, '-cpu')).toEqual(['max']);
    const kvm = qemuArgs(PATHS, { accel: 'kvm', memoryMiB: 256, cpus: 1, cmdline: '' });
    expect(values(kvm, '-accel')).toEqual(['kvm']);
    expect(values(kvm, '-cpu')).toEqual(['host']);
  });

  test('the root disk is read-only virtio-mmio; commas in paths are doubled', () => {
    expect(values(tcg, '-drive')).toEqual([
      'id=root,file=/cache/root,,fs.ext4,format=raw,if=none,readonly=on',
    ]);
    expect(values(tcg, '-device')).toEqual([
      'virtio-blk-device,drive=root',
      'virtio-serial-device',
      'virtserialport,chardev=agent,name=ironclaw.agent',
    ]);
    const { rootfs: _rootfs, ...noDisk } = PATHS;
    const probe = qemuArgs(noDisk, { accel: 'kvm', memoryMiB: 128, cpus: 1, cmdline: '' });
    expect(values(probe, '-drive')).toEqual([]);
  });

  test('the agent port connects to the host socket; QMP listens; the console goes to stdout', () => {
    expect(values(tcg, '-chardev')).toEqual([
      'stdio,id=console,signal=off',
      'socket,id=agent,path=/run/vm/agent.sock,reconnect=1',
    ]);
    expect(values(tcg, '-qmp')).toEqual(['unix:/run/vm/qmp.sock,server=on,wait=off']);
    expect(values(tcg, '-serial')).toEqual(['chardev:console']);
  });

  test("QEMU's own seccomp filter is on, with spawning and privilege changes denied", () => {
    expect(values(tcg, '-sandbox')).toEqual([
      'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny',
    ]);
  });
});

describe('kernelCmdline', () => {
  test('under TCG it carries the host TSC frequency and the fast-boot options', () => {
    const words = kernelCmdline({ accel: 'tcg', tscKhz: 2_593_966 }).split(' ');
    expect(words).toEqual(
      expect.arrayContaining([
        'tsc_early_khz=2593966',
        'tsc=reliable',
        'cryptomgr.notests',
        'panic=-1',
        'reboot=t',
        'quiet',
      ]),
    );
    expect(words).not.toContain('rtc=off');
  });

  test('under KVM there is no TSC option (kvmclock gives the frequency)', () => {
    expect(kernelCmdline({ accel: 'kvm', tscKhz: 2_593_966 })).not.toMatch(/tsc/);
  });

  test('the limits go to the guest init as ironclaw.* words; no memory limit is "max"', () => {
    const words = kernelCmdline({
      accel: 'tcg',
      tscKhz: 1,
      limits: { ...DEFAULT_LIMITS, pids: 64, openFiles: 256 },
    }).split(' ');
    expect(words).toEqual(
      expect.arrayContaining([
        'ironclaw.pids=64',
        'ironclaw.nofile=256',
        'ironclaw.memory=max',
        `ironclaw.tmp=${DEFAULT_LIMITS.tmpBytes}`,
      ]),
    );
    const limited = kernelCmdline({
      accel: 'tcg',
      tscKhz: 1,
      limits: { ...DEFAULT_LIMITS, memoryBytes: 64 << 20 },
    });
    expect(limited).toContain(`ironclaw.memory=${64 << 20}`);
    expect(kernelCmdline({ accel: 'kvm', tscKhz: undefined, probe: true })).toContain(
      'ironclaw.probe=1',
    );
  });
});

test('guest RAM: the default, or the memory limit plus room for the guest itself', () => {
  expect(guestMemoryMiB({ memoryBytes: undefined })).toBe(DEFAULT_MEMORY_MIB);
  expect(guestMemoryMiB({ memoryBytes: 64 << 20 })).toBe(DEFAULT_MEMORY_MIB);
  expect(guestMemoryMiB({ memoryBytes: 1 << 30 })).toBeGreaterThan(1024);
});

test('tscKhzFromCpuinfo reads "cpu MHz" in kHz', () => {
  expect(tscKhzFromCpuinfo('processor\t: 0\ncpu MHz\t\t: 2593.966\ncache size\t: 1 KB\n')).toBe(
    2_593_966,
  );
  expect(tscKhzFromCpuinfo('no such line')).toBeUndefined();
});

describe('qemuArgs for templates', () => {
  const shape = { accel: 'tcg', memoryMiB: 256, cpus: 1, cmdline: '' } as const;
  const withControl = { ...PATHS, controlSocket: '/run/vm/control.sock' };

  test('a template VM keeps its RAM in a shared file; a clone maps one privately and waits', () => {
    const template = qemuArgs(withControl, {
      ...shape,
      memoryFile: { path: '/run/t,1/memory', share: true },
    });
    expect(values(template, '-M')[0]).toMatch(/,memory-backend=mem$/);
    expect(values(template, '-object')).toEqual([
      'memory-backend-file,id=mem,size=256M,mem-path=/run/t,,1/memory,share=on',
    ]);
    expect(values(template, '-incoming')).toEqual([]);
    const clone = qemuArgs(withControl, {
      ...shape,
      memoryFile: { path: '/proc/self/fd/10', share: false },
      incoming: true,
    });
    expect(values(clone, '-object')[0]).toMatch(/mem-path=\/proc\/self\/fd\/10,share=off$/);
    expect(values(clone, '-incoming')).toEqual(['defer']);
  });

  test('the restore helper gets a port of its own; without a control socket there is none', () => {
    expect(values(qemuArgs(withControl, shape), '-device')).toContain(
      'virtserialport,chardev=control,name=ironclaw.control',
    );
    expect(values(qemuArgs(PATHS, shape), '-device').join()).not.toContain('control');
  });
});
