import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { cachedProbe } from './probe-cache.js';

let saved: string | undefined;
let dir: string;

beforeEach(async () => {
  saved = process.env.IRONCLAW_STATE_DIR;
  dir = await mkdtemp(join(tmpdir(), 'ironclaw-probe-'));
  process.env.IRONCLAW_STATE_DIR = dir;
});
afterEach(() => {
  if (saved === undefined) delete process.env.IRONCLAW_STATE_DIR;
  else process.env.IRONCLAW_STATE_DIR = saved;
});

test('a probe runs once per key and its verdict is kept in the state directory', async () => {
  let runs = 0;
  const probe = async (): Promise<{ platform: string }> => ({ platform: `p${++runs}` });
  expect(await cachedProbe('thing', 'key-1', probe)).toEqual({ platform: 'p1' });
  expect(await cachedProbe('thing', 'key-1', probe)).toEqual({ platform: 'p1' });
  expect(runs).toBe(1);
  const stored = JSON.parse(await readFile(join(dir, 'probe-thing.json'), 'utf8')) as {
    key: string;
  };
  expect(stored.key).toBe('key-1');
  // A changed machine (another key) is probed again.
  expect(await cachedProbe('thing', 'key-2', probe)).toEqual({ platform: 'p2' });
  expect(runs).toBe(2);
});
