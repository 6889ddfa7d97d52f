import { access, lstat, readlink, realpath } from 'node:fs/promises';
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
  const usrSymlinks: HostLayout['usrSymlinks'] = [];
  const rootDirs: string[] = [];
  for (const path of TOP_LEVEL) {
    const info = await lstat(path).catch(() => undefined);
    if (!info) continue;
    if (info.isSymbolicLink()) usrSymlinks.push({ path, target: await readlink(path) });
    else if (info.isDirectory()) rootDirs.push(path);
  }
  const etcBinds: string[] = [];
  for (const path of ETC_BINDS) {
    if (await access(path).then(() => true, () => false)) etcBinds.push(path);
  }
  return { usrSymlinks, rootDirs, etcBinds, nodePath: await realpath(process.execPath) };
}
