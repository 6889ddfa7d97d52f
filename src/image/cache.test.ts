import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildOnce, imageCacheDir, inputHash } from './cache.js';

describe('inputHash', () => {
  test('is the same for the same inputs, whatever the key order', () => {
    const a = inputHash({
      kernel: 'k',
      packages: [{ name: 'git', version: '1' }],
      node: { size: 1, path: '/n' },
    });
    const b = inputHash({
      node: { path: '/n', size: 1 },
      packages: [{ version: '1', name: 'git' }],
      kernel: 'k',
    });
    expect(a).toBe(b);
    expect(a).toMatch(/^[0-9a-f]{16}$/);
  });

  test('changes when any input changes, at any depth, and keeps array order', () => {
    const base = {
      kernel: 'k',
      packages: [
        { name: 'git', version: '1' },
        { name: 'dash', version: '2' },
      ],
    };
    const hashes = [
      base,
      { ...base, kernel: 'k2' },
      {
        ...base,
        packages: [
          { name: 'git', version: '1.1' },
          { name: 'dash', version: '2' },
        ],
      },
      { ...base, packages: [...base.packages].reverse() },
      { ...base, extra: null },
    ].map(inputHash);
    expect(new Set(hashes).size).toBe(hashes.length);
    // An undefined field is no input at all.
    expect(inputHash({ ...base, extra: undefined })).toBe(inputHash(base));
  });
});

test('imageCacheDir: IRONCLAW_CACHE_DIR, root, XDG_CACHE_HOME, ~/.cache', () => {
  expect(imageCacheDir({ IRONCLAW_CACHE_DIR: '/x/cache' })).toBe('/x/cache');
  if (process.getuid?.() === 0) {
    expect(imageCacheDir({ XDG_CACHE_HOME: '/home/u/.cache' })).toBe('/var/cache/ironclaw');
  } else {
    expect(imageCacheDir({ XDG_CACHE_HOME: '/home/u/.cache' })).toBe('/home/u/.cache/ironclaw');
    expect(imageCacheDir({})).toMatch(/\/\.cache\/ironclaw$/);
  }
});

describe('buildOnce', () => {
  let base: string;
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'ironclaw-cache-'));
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  test('builds into a staging directory and publishes it whole, once, for concurrent callers', async () => {
    let builds = 0;
    const dir = join(base, 'part', 'abc');
    const build = async (staging: string): Promise<void> => {
      builds++;
      await writeFile(join(staging, 'file'), 'content');
      await new Promise((resolve) => setTimeout(resolve, 50));
    };
    const results = await Promise.all([
      buildOnce(dir, build),
      buildOnce(dir, build),
      buildOnce(dir, build),
    ]);
    expect(results).toEqual([dir, dir, dir]);
    expect(builds).toBe(1);
    expect(await readFile(join(dir, 'file'), 'utf8')).toBe('content');
    expect(await readdir(join(base, 'part'))).toEqual(['abc']); // no lock, no partial left
    await buildOnce(dir, build);
    expect(builds).toBe(1);
  });

  test('a failed build leaves nothing behind and the next call builds again', async () => {
    const dir = join(base, 'part', 'failing');
    await expect(
      buildOnce(dir, async (staging) => {
        await writeFile(join(staging, 'half'), 'x');
        throw new Error('mkfs failed');
      }),
    ).rejects.toThrow('mkfs failed');
    expect(
      (await readdir(join(base, 'part'))).filter((name) => name.startsWith('failing')),
    ).toEqual([]);
    await buildOnce(dir, (staging) => writeFile(join(staging, 'ok'), 'y'));
    expect(await readFile(join(dir, 'ok'), 'utf8')).toBe('y');
  });

  test('a lock left by a process that is gone is taken over', async () => {
    const dir = join(base, 'part', 'stale');
    await writeFile(`${dir}.lock`, '999999999');
    await buildOnce(dir, (staging) => writeFile(join(staging, 'ok'), 'z'));
    expect(await readFile(join(dir, 'ok'), 'utf8')).toBe('z');
  });
});
