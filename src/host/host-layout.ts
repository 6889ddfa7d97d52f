import { lstat, readlink, realpath } from 'node:fs/promises';

/** Facts about the host that shape every box, found once by `detectHostLayout`. */
export interface HostLayout {
  /** Top-level directories that are symlinks into /usr on a merged-/usr system (bin -> usr/bin). */
  usrSymlinks: { path: string; target: string }[];
  /** Top-level directories bound read-only as they are, on a system without merged /usr. */
  rootDirs: string[];
  /** Host /etc entries a userland needs (library cache, alternatives), bound read-only if present. */
  etcBinds: readonly string[];
  /** Real path of the node binary the guest agent runs on, bound at the same path. */
  nodePath: string;
}

/** Every namespace bwrap can make, each required (never "-try"). */
export const NAMESPACE_ARGS: readonly string[] = [
  '--unshare-user',
  '--unshare-pid',
  '--unshare-net',
  '--unshare-ipc',
  '--unshare-uts',
  '--unshare-cgroup',
];

/** A read-only root from the host's /usr, with the top-level links or directories it needs. */
export function usrRootArgs(layout: HostLayout): string[] {
  const args = ['--ro-bind', '/usr', '/usr'];
  for (const link of layout.usrSymlinks) args.push('--symlink', link.target, link.path);
  for (const dir of layout.rootDirs) args.push('--ro-bind', dir, dir);
  return args;
}

const TOP_LEVEL = ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

/** Host /etc entries that a userland needs and that reveal nothing about the user. */
const ETC_BINDS = [
  '/etc/alternatives',
  '/etc/ld.so.cache',
  '/etc/ld.so.conf',
  '/etc/ld.so.conf.d',
  '/etc/localtime',
  '/etc/ssl/certs',
  '/etc/ca-certificates',
  '/etc/mime.types',
];

let cached: Promise<HostLayout> | undefined;

/** Looks at the host once: how /usr is merged, which /etc entries exist, where node is. */
export function detectHostLayout(): Promise<HostLayout> {
  cached ??= detect();
  return cached;
}

async function detect(): Promise<HostLayout> {
  // All lookups at once: this runs on the start-up path of every one-shot `ironclaw exec`.
  const [tops, nodePath] = await Promise.all([
    Promise.all(
      TOP_LEVEL.map(async (path) => {
        const info = await lstat(path).catch(() => undefined);
        return { path, info, target: info?.isSymbolicLink() ? await readlink(path) : undefined };
      }),
    ),
    realpath(process.execPath),
  ]);
  return {
    usrSymlinks: tops.flatMap(({ path, target }) =>
      target === undefined ? [] : [{ path, target }],
    ),
    rootDirs: tops.flatMap(({ path, info }) => (info?.isDirectory() ? [path] : [])),
    // Bound with --ro-bind-try: bwrap skips the ones this host lacks, no lookups needed here.
    etcBinds: ETC_BINDS,
    nodePath,
  };
}
