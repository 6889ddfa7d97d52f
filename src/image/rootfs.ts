import { chmod, copyFile, mkdir, open, realpath, rm, stat, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { BOX_ETC_FILES } from '../host/box-env.js';
import { HostCopier } from './copy.js';
import { GUEST_NODE } from './init.js';
import { buildError, type Progress, runTool } from './tools.js';
import { type HostPackage, isElf, packageFiles, sharedLibraries } from './userland.js';

/** Bumped whenever the layout below changes, so cached root filesystems are rebuilt. */
export const ROOTFS_LAYOUT_VERSION = 2;

/** Mount points the init fills (proc, sys, dev, the box's tmpfs mounts, the agent's tmpfs). */
const MOUNT_POINTS = ['proc', 'sys', 'dev', 'tmp', 'workspace', '.ironclaw', 'run', 'root'];
/** Host /etc entries the userland needs (the loader's cache); the rest of /etc is the box's own. */
const HOST_ETC = ['/etc/ld.so.cache', '/etc/ld.so.conf', '/etc/ld.so.conf.d'];

export interface RootfsInputs {
  packages: readonly HostPackage[];
  /** The host's node binary (real path), copied to the same path and linked from GUEST_NODE. */
  nodePath: string;
  /** The package's box/etc directory: passwd, group, hosts, hostname, nsswitch.conf. */
  etcDir: string;
}

/**
 * Builds the guest's root filesystem image into `outDir`/rootfs.ext4: a staging directory of
 * the userland packages, their libraries, node and the box's /etc, turned into an ext4 image by
 * `mkfs.ext4 -d` (no loop mount, no root needed). The image has no journal: the guest mounts it
 * read-only, and many VMs share it.
 */
export async function buildRootfs(
  outDir: string,
  inputs: RootfsInputs,
  progress: Progress,
): Promise<{ bytes: number; files: number }> {
  const staging = join(outDir, 'staging');
  await mkdir(staging, { mode: 0o755 });
  const copier = new HostCopier(staging);
  await copier.mirrorTopLevel();
  progress(
    `rootfs: copying ${inputs.packages.length} packages (${inputs.packages.map((p) => p.name).join(', ')})`,
  );
  const files = await packageFiles(inputs.packages);
  await copier.copyAll(files);
  await copier.copy(inputs.nodePath);
  if (inputs.nodePath !== GUEST_NODE) {
    await mkdir(join(staging, '/usr/local/bin'), { recursive: true });
    await symlink(inputs.nodePath, join(staging, GUEST_NODE));
  }
  progress('rootfs: finding shared libraries (ldd)');
  const candidates = [...files, inputs.nodePath].filter((path) =>
    /(^|\/)(s?bin|libexec|lib)\/|\.so/.test(path),
  );
  const elves: string[] = [];
  const inodes = new Set<string>();
  for (const path of candidates) {
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile() || inodes.has(`${info.dev}:${info.ino}`)) continue;
    inodes.add(`${info.dev}:${info.ino}`);
    if (await isElf(path)) elves.push(await realpath(path));
  }
  const { libraries, missing } = await sharedLibraries(elves);
  await copier.copyAll(libraries);
  if (missing.size > 0) {
    progress(
      `rootfs: libraries the host lacks too (their plugins will not load): ${[...missing].join(', ')}`,
    );
  }
  await copier.copyAll(HOST_ETC);
  for (const name of BOX_ETC_FILES)
    await copyFile(join(inputs.etcDir, name), join(staging, 'etc', name));
  for (const dir of MOUNT_POINTS) await mkdir(join(staging, dir), { recursive: true, mode: 0o755 });
  await chmod(join(staging, 'tmp'), 0o1777);
  await chmod(join(staging, 'root'), 0o700);
  const { files: count, bytes } = copier.stats;
  const image = join(outDir, 'rootfs.ext4');
  // Room for metadata and the hard links' directory entries; the filesystem is never written.
  const size = Math.ceil((bytes * 1.15 + 64 * 1024 ** 2) / 1024 ** 2) * 1024 ** 2;
  progress(
    `rootfs: ${count} files, ${Math.round(bytes / 1024 ** 2)} MiB; making a ${size / 1024 ** 2} MiB ext4 image (mkfs.ext4 -d)`,
  );
  const handle = await open(image, 'w', 0o644);
  await handle.truncate(size);
  await handle.close();
  await runTool('mkfs.ext4', [
    '-q',
    '-F',
    '-b',
    '4096',
    '-L',
    'ironclaw-root',
    '-O',
    '^has_journal',
    '-m',
    '0',
    '-E',
    'root_owner=0:0',
    '-d',
    staging,
    image,
  ]);
  await rm(staging, { recursive: true, force: true });
  if ((await stat(image)).size !== size)
    throw buildError(`mkfs.ext4 left ${image} at an unexpected size`);
  return { bytes: size, files: count };
}
