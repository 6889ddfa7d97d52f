import { mkdir, mkdtemp, readdir, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { sweepStale } from './cgroups.js';

test('the sweep removes old empty box cgroups and leaves young ones', async () => {
  // Plain directories stand in for cgroups here: rmdir of a cgroup that still has processes
  // fails with EBUSY, as rmdir of a non-empty directory fails here, and both are skipped.
  const base = await mkdtemp(join(tmpdir(), 'ironclaw-cgroups-'));
  const old = new Date(Date.now() - 5 * 60_000);
  for (const name of ['run-1-old', 'sb-busy']) {
    await mkdir(join(base, name));
    await utimes(join(base, name), old, old);
  }
  await mkdir(join(base, 'sb-busy', 'cgroup.procs-stand-in'));
  await utimes(join(base, 'sb-busy'), old, old);
  await mkdir(join(base, 'run-2-young'));
  expect(await sweepStale(base)).toBe(1);
  expect((await readdir(base)).sort()).toEqual(['run-2-young', 'sb-busy']);
  expect(await sweepStale(join(base, 'missing'))).toBe(0);
});
