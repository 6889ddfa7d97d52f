import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { deadOwner } from '../../test/support/dead-owner.js';
import { markOwner, OWNER_FILE, sweepDeadOwners } from './dir-owner.js';
import { ownerAlive } from './process-identity.js';

test('the sweep removes the directories of dead owners only', async () => {
  const base = await mkdtemp(join(tmpdir(), 'ironclaw-owners-'));
  try {
    const plant = async (name: string, owner: string | undefined): Promise<void> => {
      await mkdir(join(base, name));
      await writeFile(join(base, name, 'memory'), 'a RAM file');
      if (owner !== undefined) await writeFile(join(base, name, OWNER_FILE), owner);
    };
    await plant('dead-1', await deadOwner());
    // This process's pid with another start time: the pid was reused, its owner is gone.
    await plant('reused-1', `${process.pid} 1\n`);
    await mkdir(join(base, 'live-1'));
    await markOwner(join(base, 'live-1'));
    // No owner file: not ours to judge (a template store, a directory of an older version).
    await plant('templates', undefined);
    const old = new Date(Date.now() - 5 * 60_000);
    await mkdir(join(base, 'orphan-1')); // made, then killed before its owner file
    await utimes(join(base, 'orphan-1'), old, old);
    await mkdir(join(base, 'young-1')); // being made right now
    expect((await sweepDeadOwners(base)).map((dir) => dir.slice(base.length + 1)).sort()).toEqual([
      'dead-1',
      'orphan-1',
      'reused-1',
    ]);
    expect((await readdir(base)).sort()).toEqual(['live-1', 'templates', 'young-1']);
    expect(await sweepDeadOwners(join(base, 'missing'))).toEqual([]);
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('an owner file is parsed strictly: anything but "<pid> <start>" names no live owner', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ironclaw-owner-'));
  try {
    await markOwner(dir);
    const mine = await readFile(join(dir, OWNER_FILE), 'utf8');
    expect(mine).toMatch(new RegExp(`^${process.pid} \\d+\\n$`));
    expect(await ownerAlive(mine)).toBe(true);
    for (const text of ['', `${process.pid}`, `${mine}${mine}`, `../${mine}`, `-1 0\n`])
      expect(await ownerAlive(text)).toBe(false);
    // Made once: a second owner of the same directory is refused.
    await expect(markOwner(dir)).rejects.toThrow(/EEXIST/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
