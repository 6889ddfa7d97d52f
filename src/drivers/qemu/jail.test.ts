import { expect, test } from 'vitest';
import { jailArgs, VMM_RLIMITS } from './jail.js';

const LAYOUT = {
  usrSymlinks: [{ path: '/bin', target: 'usr/bin' }],
  rootDirs: [],
  etcBinds: ['/etc/ld.so.cache'],
  nodePath: '/usr/bin/node',
};

function jail(kvm: boolean): string[] {
  return jailArgs({
    layout: LAYOUT,
    files: ['/cache/vmlinux', '/cache/rootfs.ext4'],
    runtimeDir: '/run/ironclaw-vmm/box-abc',
    kvm,
    infoFd: 3,
    command: ['qemu-system-x86_64', '-M', 'microvm'],
  });
}

/** Each [flag, value, value?] of `args` as one string. */
function mounts(args: readonly string[]): string[] {
  const out: string[] = [];
  args.forEach((arg, index) => {
    if (['--bind', '--ro-bind', '--dev-bind', '--ro-bind-try'].includes(arg))
      out.push(`${arg} ${args[index + 1]} ${args[index + 2]}`);
  });
  return out;
}

test('the VMM gets every namespace, required (never -try), no capabilities, and dies with us', () => {
  const args = jail(false);
  for (const flag of [
    '--unshare-user',
    '--unshare-pid',
    '--unshare-net',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-cgroup',
  ])
    expect(args).toContain(flag);
  expect(args.some((arg) => arg.startsWith('--unshare') && arg.endsWith('-try'))).toBe(false);
  expect(args).toEqual(
    expect.arrayContaining(['--die-with-parent', '--new-session', '--as-pid-1', '--clearenv']),
  );
  expect(args.join(' ')).toContain('--cap-drop ALL');
  expect(args.slice(args.indexOf('--'))).toEqual(['--', 'qemu-system-x86_64', '-M', 'microvm']);
});

test('its file system: /usr and the image read-only, its runtime directory writable, nothing else', () => {
  expect(mounts(jail(false))).toEqual([
    '--ro-bind /usr /usr',
    '--ro-bind-try /etc/ld.so.cache /etc/ld.so.cache',
    '--ro-bind /cache/vmlinux /cache/vmlinux',
    '--ro-bind /cache/rootfs.ext4 /cache/rootfs.ext4',
    '--bind /run/ironclaw-vmm/box-abc /run/ironclaw-vmm/box-abc',
  ]);
  expect(jail(false).join(' ')).toContain('--remount-ro /');
});

test('/dev/kvm is there only for a KVM guest', () => {
  expect(mounts(jail(true))).toContain('--dev-bind /dev/kvm /dev/kvm');
  expect(mounts(jail(false)).some((mount) => mount.includes('/dev/kvm'))).toBe(false);
});

test('rlimits: no core dumps of guest memory, no files written', () => {
  expect(VMM_RLIMITS).toEqual(expect.arrayContaining(['--core=0', '--fsize=0']));
});

test("IronClaw's filter: bwrap installs the program on the given descriptor, last, before QEMU's exec", () => {
  const args = jailArgs({
    layout: LAYOUT,
    files: [],
    runtimeDir: '/run/ironclaw-vmm/box-abc',
    kvm: false,
    infoFd: 3,
    seccompFd: 4,
    command: ['qemu-system-x86_64'],
  });
  const at = args.indexOf('--seccomp');
  expect(args[at + 1]).toBe('4');
  expect(at).toBeLessThan(args.indexOf('--'));
  expect(jail(false)).not.toContain('--seccomp');
});
