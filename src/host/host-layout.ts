import { lstat, readlink, realpath } from 'node:fs/promises';
import type { HostLayout } from './bwrap-args.js';

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
