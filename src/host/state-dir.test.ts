import { chmod, lstat, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { rootSharedDir } from './state-dir.js';

// The base directory of boxes whose processes run as other uids (gVisor's runsc, a VMM): made
// root's and 0711, and refused when it is anything else, since a planted one would let its
// owner see or swap the boxes' sockets and bundles.
const asRoot = process.getuid?.() === 0;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ironclaw-shared-dir-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

test.skipIf(!asRoot)(
  `made root's with mode 0711; a wrong mode or a symbolic link is refused${asRoot ? '' : ' [skipped: needs root]'}`,
  async () => {
    const base = join(dir, 'made');
    await expect(rootSharedDir(base, 'boxes')).resolves.toBe(base);
    const info = await lstat(base);
    expect([info.uid, info.mode & 0o777]).toEqual([0, 0o711]);
    await chmod(base, 0o755);
    await expect(rootSharedDir(base, 'boxes')).rejects.toThrow(
      `refusing to keep boxes in ${base}: its mode is 755, not 711`,
    );
    const link = join(dir, 'link');
    await mkdir(join(dir, 'target'), { mode: 0o711 });
    await symlink(join(dir, 'target'), link);
    await expect(rootSharedDir(link, 'boxes')).rejects.toThrow(
      /not a directory \(a symbolic link\?\)/,
    );
  },
);

test.skipIf(asRoot)(
  `refused when it is not root's${asRoot ? " [skipped: as root every directory made is root's]" : ''}`,
  async () => {
    const base = join(dir, 'mine');
    await expect(rootSharedDir(base, 'VMs')).rejects.toThrow(/belongs to uid \d+, not to root/);
  },
);
