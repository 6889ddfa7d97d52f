import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * Every path under `dir` (not following symlinks) as "type mode sha256-or-target", sorted:
 * equal snapshots mean a byte-for-byte equal tree, modes and link targets included.
 */
export async function snapshotTree(dir: string, under = ''): Promise<string[]> {
  const lines: string[] = [];
  for (const name of (await readdir(join(dir, under))).sort()) {
    const path = under === '' ? name : `${under}/${name}`;
    const full = join(dir, path);
    const info = await lstat(full);
    const mode = (info.mode & 0o777).toString(8);
    if (info.isSymbolicLink()) lines.push(`${path} l ${await readlink(full)}`);
    else if (info.isDirectory()) {
      lines.push(`${path} d ${mode}`);
      lines.push(...(await snapshotTree(dir, path)));
    } else {
      const sha = createHash('sha256')
        .update(await readFile(full))
        .digest('hex');
      lines.push(`${path} f ${mode} ${sha}`);
    }
  }
  return lines;
}

/** Writes files ("path": content), symlinks ({ link }) and modes ({ data, mode }) under dir. */
export async function makeTree(
  dir: string,
  spec: Record<string, string | Buffer | { link: string } | { data: string; mode: number }>,
): Promise<void> {
  for (const [path, value] of Object.entries(spec)) {
    const full = join(dir, path);
    await mkdir(dirname(full), { recursive: true });
    if (typeof value === 'object' && 'link' in value) await symlink(value.link, full);
    else if (typeof value === 'object' && 'mode' in value)
      await writeFile(full, value.data, { mode: value.mode });
    else await writeFile(full, value);
  }
}
