// The jailer's command line (a pure builder) and the jail around it: the chroot we fill before
// the jailer runs and remove after the VM, on a real file system.
import { chmod, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { createOwnedFile, placeInChroot, removeJail } from '../src/drivers/firecracker/chroot.js';
import {
  hostCgroupVersion,
  jailCgroupDirs,
  jailDirs,
  type JailerOptions,
  jailerArgs,
} from '../src/drivers/firecracker/jailer.js';

/** A box uid as the default range hands them out: no passwd entry, no process. */
const BOX_UID = 0x70000abc;

const base: JailerOptions = {
  id: 'sb-0123abcd-9f8e7d6c',
  execFile: '/usr/local/bin/firecracker',
  uid: BOX_UID,
  gid: BOX_UID,
  cgroupVersion: 2,
  chrootBaseDir: '/var/lib/ironclaw/jail',
  newPidNs: false,
  daemonize: false,
  firecrackerArgs: ['--api-sock', '/api.sock'],
};

describe('jailerArgs', () => {
  test('every option in its flag, Firecracker’s own arguments after --', () => {
    expect(
      jailerArgs({
        ...base,
        cgroupVersion: 1,
        parentCgroup: 'ironclaw-firecracker',
        cgroups: [
          { file: 'memory.limit_in_bytes', value: '402653184' },
          { file: 'pids.max', value: '64' },
          { file: 'cpuset.cpus', value: '0-1,3' },
        ],
        netns: '/var/run/netns/box',
        resourceLimits: { noFile: 1024, fsize: 335544320 },
        newPidNs: true,
        daemonize: true,
        firecrackerArgs: ['--api-sock', '/api.sock', '--seccomp-filter', '/seccomp.bpf'],
      }),
    ).toEqual([
      ...['--id', 'sb-0123abcd-9f8e7d6c', '--exec-file', '/usr/local/bin/firecracker'],
      ...['--uid', String(BOX_UID), '--gid', String(BOX_UID), '--cgroup-version', '1'],
      ...['--chroot-base-dir', '/var/lib/ironclaw/jail'],
      ...['--parent-cgroup', 'ironclaw-firecracker'],
      ...['--cgroup', 'memory.limit_in_bytes=402653184', '--cgroup', 'pids.max=64'],
      ...['--cgroup', 'cpuset.cpus=0-1,3'],
      ...['--netns', '/var/run/netns/box'],
      ...['--resource-limit', 'fsize=335544320', '--resource-limit', 'no-file=1024'],
      '--daemonize',
      '--new-pid-ns',
      ...['--', '--api-sock', '/api.sock', '--seccomp-filter', '/seccomp.bpf'],
    ]);
  });

  test('the minimum: no optional flags, the cgroup version always said (the jailer defaults to 1)', () => {
    expect(jailerArgs(base)).toEqual([
      ...['--id', 'sb-0123abcd-9f8e7d6c', '--exec-file', '/usr/local/bin/firecracker'],
      ...['--uid', String(BOX_UID), '--gid', String(BOX_UID), '--cgroup-version', '2'],
      ...['--chroot-base-dir', '/var/lib/ironclaw/jail', '--', '--api-sock', '/api.sock'],
    ]);
  });

  test.each<[string, Partial<JailerOptions>]>([
    ['an id with an underscore', { id: 'vm_1' }],
    ['an id with a slash', { id: '../etc' }],
    ['an empty id', { id: '' }],
    ['an id over 64 characters', { id: 'a'.repeat(65) }],
    ['a relative exec file', { execFile: 'firecracker' }],
    ['an exec file not named firecracker', { execFile: '/usr/bin/qemu' }],
    ['a negative uid', { uid: -1 }],
    ['a fractional gid', { gid: 1.5 }],
    ['a relative chroot base', { chrootBaseDir: 'jail' }],
    ['a parent cgroup climbing out', { parentCgroup: 'a/../../b' }],
    ['a cgroup file without a controller', { cgroups: [{ file: 'max', value: '1' }] }],
    ['a cgroup value with a newline', { cgroups: [{ file: 'pids.max', value: '1\n2' }] }],
    ['a relative netns', { netns: 'netns/x' }],
    ['a negative resource limit', { resourceLimits: { noFile: -1 } }],
  ])('refuses %s, naming it', (_name, change) => {
    expect(() => jailerArgs({ ...base, ...change })).toThrow(/^jailer: /);
  });

  test('accepts the longest id the jailer does', () => {
    expect(jailerArgs({ ...base, id: `A-${'z9'.repeat(31)}` })[1]).toHaveLength(64);
  });
});

describe('where the jailer puts things', () => {
  test('the chroot is <base>/<exec name>/<id>/root', () => {
    expect(jailDirs(base)).toEqual({
      jailDir: '/var/lib/ironclaw/jail/firecracker/sb-0123abcd-9f8e7d6c',
      chrootDir: '/var/lib/ironclaw/jail/firecracker/sb-0123abcd-9f8e7d6c/root',
    });
  });

  test('cgroups: one directory on v2, one per controller on v1, none when nothing is set', () => {
    const cgroups = [
      { file: 'pids.max', value: '64' },
      { file: 'memory.max', value: '1' },
    ];
    expect(jailCgroupDirs({ ...base, cgroups, parentCgroup: 'p' }, '/cg')).toEqual([
      '/cg/p/sb-0123abcd-9f8e7d6c',
    ]);
    expect(jailCgroupDirs({ ...base, cgroupVersion: 1, cgroups }, '/cg')).toEqual([
      '/cg/memory/firecracker/sb-0123abcd-9f8e7d6c',
      '/cg/pids/firecracker/sb-0123abcd-9f8e7d6c',
    ]);
    expect(jailCgroupDirs(base, '/cg')).toEqual([]);
  });
});

describe('the jail on disk', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ironclaw-fc-jail-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const asRoot = process.getuid?.() === 0;
  const owner = { uid: BOX_UID, gid: BOX_UID };

  test('the host cgroup version is read from the hierarchy', async () => {
    await expect(hostCgroupVersion(dir)).resolves.toBe(1);
    await writeFile(join(dir, 'cgroup.controllers'), 'memory pids\n');
    await expect(hostCgroupVersion(dir)).resolves.toBe(2);
  });

  test.skipIf(!asRoot)(
    `image files are hard-linked when readable by all, copied (owned by the VMM, 0400) otherwise${asRoot ? '' : ' [skipped: needs root to chown]'}`,
    async () => {
      const cache = join(dir, 'cache');
      await mkdir(cache);
      await writeFile(join(cache, 'vmlinux'), 'kernel');
      await writeFile(join(cache, 'secret.ext4'), 'private disk');
      await chmod(join(cache, 'vmlinux'), 0o644);
      await chmod(join(cache, 'secret.ext4'), 0o600);
      const chroot = join(dir, 'jail', 'firecracker', 'vm', 'root');
      const placed = await placeInChroot(
        chroot,
        [
          { source: join(cache, 'vmlinux'), name: 'vmlinux' },
          { source: join(cache, 'secret.ext4'), name: 'rootfs.ext4' },
        ],
        owner,
      );
      expect(placed).toEqual({ vmlinux: 'linked', 'rootfs.ext4': 'copied' });
      const [source, linked, copied] = await Promise.all([
        stat(join(cache, 'vmlinux')),
        stat(join(chroot, 'vmlinux')),
        stat(join(chroot, 'rootfs.ext4')),
      ]);
      expect(linked.ino).toBe(source.ino);
      // The link shares the cache's inode, which must stay root's.
      expect([source.uid, source.mode & 0o777]).toEqual([0, 0o644]);
      expect([copied.uid, copied.gid, copied.mode & 0o777]).toEqual([BOX_UID, BOX_UID, 0o400]);
    },
  );

  test.skipIf(!asRoot)(
    `a file on another file system is copied${asRoot ? '' : ' [skipped: needs root to chown]'}`,
    async () => {
      const shm = await mkdtemp('/dev/shm/ironclaw-fc-');
      try {
        await writeFile(join(shm, 'initramfs'), 'cpio');
        await chmod(join(shm, 'initramfs'), 0o644);
        const chroot = join(dir, 'root');
        const placed = await placeInChroot(
          chroot,
          [{ source: join(shm, 'initramfs'), name: 'initramfs.cpio' }],
          owner,
        );
        const [source, target] = await Promise.all([
          stat(join(shm, 'initramfs')),
          stat(join(chroot, 'initramfs.cpio')),
        ]);
        // /dev/shm is a tmpfs: if it happens to share the test directory's device, it linked.
        expect(placed['initramfs.cpio']).toBe(source.dev === target.dev ? 'linked' : 'copied');
      } finally {
        await rm(shm, { recursive: true, force: true });
      }
    },
  );

  test('names that are not plain file names are refused', async () => {
    await expect(
      placeInChroot(dir, [{ source: '/etc/hostname', name: '../escape' }], owner),
    ).rejects.toThrow(/must be a plain name/);
  });

  test.skipIf(!asRoot)(
    `the log file is made empty and owned by the VMM, and never over an existing file${asRoot ? '' : ' [skipped: needs root to chown]'}`,
    async () => {
      const log = join(dir, 'firecracker.log');
      await createOwnedFile(log, owner);
      const info = await stat(log);
      expect([info.size, info.uid, info.mode & 0o777]).toEqual([0, BOX_UID, 0o600]);
      await expect(createOwnedFile(log, owner)).rejects.toMatchObject({ code: 'EEXIST' });
    },
  );

  test('removing a jail removes its directory and its cgroups, and reports what stayed', async () => {
    const jail = join(dir, 'firecracker', 'vm');
    await mkdir(join(jail, 'root', 'dev'), { recursive: true });
    await writeFile(join(jail, 'root', 'firecracker.log'), 'x');
    const cgroupGone = join(dir, 'cgroup-a');
    const cgroupStuck = join(dir, 'cgroup-b');
    await mkdir(cgroupGone);
    await mkdir(cgroupStuck);
    await writeFile(join(cgroupStuck, 'not-a-cgroup-file'), '');
    const leftovers = await removeJail(jail, [cgroupGone, cgroupStuck, join(dir, 'never-made')]);
    expect(leftovers.map((error) => (error as NodeJS.ErrnoException).code)).toEqual(['ENOTEMPTY']);
    expect((await readdir(dir)).sort()).toEqual(['cgroup-b', 'firecracker']);
    expect(await readdir(join(dir, 'firecracker'))).toEqual([]);
  });
});
