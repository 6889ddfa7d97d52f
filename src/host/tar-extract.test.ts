import {
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { beforeEach, describe, expect, test } from 'vitest';
import { encodeTarHeader, type TarHeaderInput, tarEnd, tarPadding } from '../core/tar-writer.js';
import { TarExtractor } from './tar-extract.js';

function archive(entries: (TarHeaderInput & { data?: string })[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const data = Buffer.from(entry.data ?? '');
    parts.push(encodeTarHeader({ ...entry, size: data.length }), data);
    parts.push(Buffer.alloc(tarPadding(data.length)));
  }
  parts.push(tarEnd());
  return Buffer.concat(parts);
}

/** An archive a hostile box could send: a symlink out of the copy, then a file through it. */
function throughSymlink(victim: string): Buffer {
  return archive([
    { path: 'out/', type: 'directory', mode: 0o755, size: 0 },
    { path: 'out/esc', type: 'symlink', mode: 0o777, size: 0, linkTarget: victim },
    { path: 'out/esc/planted', type: 'file', mode: 0o644, size: 0, data: 'owned\n' },
  ]);
}

async function extract(dir: string, bytes: Buffer, options: { top: string; as?: string }) {
  const extractor = new TarExtractor(dir, options);
  try {
    // Small chunks: entries and their data split across pushes, as they come from a box.
    for (let offset = 0; offset < bytes.length; offset += 700)
      await extractor.push(bytes.subarray(offset, offset + 700));
    return await extractor.end();
  } finally {
    await extractor.close();
  }
}

let root: string;
let dest: string;
let victim: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'ironclaw-extract-'));
  dest = join(root, 'dest');
  victim = join(root, 'victim');
  await mkdir(dest);
  await mkdir(victim);
});

describe('TarExtractor (sandbox cp out)', () => {
  test('writes files, directories, symlinks and hard links with their modes, under a new name', async () => {
    const report = await extract(
      dest,
      archive([
        { path: 'src/', type: 'directory', mode: 0o750, size: 0 },
        { path: 'src/run.sh', type: 'file', mode: 0o4755, size: 0, data: '#!/bin/sh\n' },
        { path: 'src/link', type: 'symlink', mode: 0o777, size: 0, linkTarget: 'run.sh' },
        { path: 'src/same', type: 'hardlink', mode: 0o755, size: 0, linkTarget: 'src/run.sh' },
      ]),
      { top: 'src', as: 'copy' },
    );
    expect(report).toMatchObject({ files: 2, directories: 1, symlinks: 1, bytes: 10 });
    expect((await stat(join(dest, 'copy'))).mode & 0o7777).toBe(0o750);
    // The setuid bit is dropped: the box never makes a setuid file on the host.
    expect((await stat(join(dest, 'copy', 'run.sh'))).mode & 0o7777).toBe(0o755);
    expect(await readlink(join(dest, 'copy', 'link'))).toBe('run.sh');
    expect((await stat(join(dest, 'copy', 'same'))).ino).toBe(
      (await stat(join(dest, 'copy', 'run.sh'))).ino,
    );
  });

  test('attack: a symlink out of the copy, then a file through it, writes nothing outside', async () => {
    await expect(extract(dest, throughSymlink(victim), { top: 'out' })).rejects.toMatchObject({
      code: 'ARCHIVE_UNSAFE',
    });
    expect(await readdir(victim)).toEqual([]);
  });

  test('negative control: followed naively, the same archive plants a file outside', async () => {
    // What an extraction that follows links (join, mkdir, write) does with it.
    const bytes = throughSymlink(victim);
    await mkdir(join(dest, 'out'));
    await symlink(victim, join(dest, 'out', 'esc'));
    const planted = join(dest, 'out', 'esc', 'planted');
    await mkdir(dirname(planted), { recursive: true });
    await writeFile(planted, 'owned\n');
    expect(bytes.length).toBeGreaterThan(0);
    expect(await readFile(join(victim, 'planted'), 'utf8')).toBe('owned\n');
  });

  test('attack: an existing host symlink where the copy goes is never written through', async () => {
    await symlink(victim, join(dest, 'out'));
    const bytes = archive([
      { path: 'out/', type: 'directory', mode: 0o755, size: 0 },
      { path: 'out/planted', type: 'file', mode: 0o644, size: 0, data: 'owned\n' },
    ]);
    await expect(extract(dest, bytes, { top: 'out' })).rejects.toMatchObject({
      code: 'ARCHIVE_UNSAFE',
    });
    const file = archive([{ path: 'f', type: 'file', mode: 0o644, size: 0, data: 'owned\n' }]);
    await symlink(join(victim, 'f'), join(dest, 'f'));
    await expect(extract(dest, file, { top: 'f' })).rejects.toMatchObject({
      code: 'ARCHIVE_UNSAFE',
    });
    expect(await readdir(victim)).toEqual([]);
  });

  test('attack: entries outside what was copied, and hard links to host files, are refused', async () => {
    const other = archive([{ path: 'elsewhere', type: 'file', mode: 0o644, size: 0, data: 'x' }]);
    await expect(extract(dest, other, { top: 'out' })).rejects.toMatchObject({
      code: 'ARCHIVE_UNSAFE',
    });
    const hard = archive([
      { path: 'out/', type: 'directory', mode: 0o755, size: 0 },
      { path: 'out/passwd', type: 'hardlink', mode: 0o644, size: 0, linkTarget: '/etc/passwd' },
    ]);
    await expect(extract(dest, hard, { top: 'out' })).rejects.toMatchObject({
      code: 'ARCHIVE_UNSAFE',
    });
    const dotdot = archive([{ path: 'out/../../x', type: 'file', mode: 0o644, size: 0 }]);
    await expect(extract(dest, dotdot, { top: 'out' })).rejects.toMatchObject({
      code: 'ARCHIVE_UNSAFE',
    });
    expect(await readdir(root)).toEqual(expect.arrayContaining(['dest', 'victim']));
    expect(await readdir(root)).toHaveLength(2);
  });
});
