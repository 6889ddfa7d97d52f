import * as real from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import * as startUp from './start-up-fs.js';

/** What a call gives, resolved or rejected, in a form two implementations can be compared by. */
async function outcome(call: Promise<unknown>): Promise<unknown> {
  try {
    const value = await call;
    return { value: value instanceof Object && 'isFile' in value ? 'a Stats' : value };
  } catch (error) {
    return { code: (error as NodeJS.ErrnoException).code };
  }
}

test('the start-up stand-in answers as node:fs/promises does, errors included', async () => {
  const missing = '/nonexistent/package.json';
  const cases: [string, Promise<unknown>, Promise<unknown>][] = [
    [
      'readFile',
      startUp.readFile('/proc/self/comm', 'utf8'),
      real.readFile('/proc/self/comm', 'utf8'),
    ],
    ['readFile missing', startUp.readFile(missing, 'utf8'), real.readFile(missing, 'utf8')],
    ['readdir', startUp.readdir('/etc/ssl'), real.readdir('/etc/ssl')],
    ['lstat', startUp.lstat('/bin'), real.lstat('/bin')],
    ['lstat missing', startUp.lstat('/libx32-none'), real.lstat('/libx32-none')],
    ['readlink', startUp.readlink('/proc/self/cwd'), real.readlink('/proc/self/cwd')],
    ['readlink of no link', startUp.readlink('/etc'), real.readlink('/etc')],
    ['realpath', startUp.realpath('/proc/self/cwd'), real.realpath('/proc/self/cwd')],
  ];
  // Each outcome is taken at once, so no rejection waits unhandled while another is awaited.
  for (const [name, ours, theirs] of cases.map(
    ([name, a, b]) => [name, outcome(a), outcome(b)] as const,
  )) {
    expect(await ours, name).toEqual(await theirs);
  }
});

test('a failure is a rejection, never a synchronous throw', async () => {
  const pending = startUp.readFile('/nonexistent', 'utf8');
  await expect(pending).rejects.toMatchObject({ code: 'ENOENT' });
});

test('what leasing a box uid uses answers as node:fs/promises does, on a real directory', async () => {
  const dir = await real.mkdtemp(join(tmpdir(), 'ironclaw-start-up-fs-'));
  try {
    for (const [name, fs] of [
      ['ours', startUp],
      ['node', real],
    ] as const) {
      const base = join(dir, name);
      const made = [
        await outcome(fs.mkdir(join(base, 'a'), { recursive: true, mode: 0o700 })),
        await outcome(fs.mkdir(join(base, 'a'), { recursive: true, mode: 0o700 })),
        await outcome(fs.writeFile(join(base, 'lease'), 'x\n', { mode: 0o600, flag: 'wx' })),
        await outcome(fs.writeFile(join(base, 'lease'), 'y\n', { mode: 0o600, flag: 'wx' })),
        await outcome(fs.rename(join(base, 'lease'), join(base, 'aside'))),
        await outcome(fs.rename(join(base, 'lease'), join(base, 'aside'))),
        await outcome(fs.rm(join(base, 'aside'), { force: true })),
        await outcome(fs.rm(join(base, 'aside'), { force: true })),
      ];
      expect(made, name).toEqual([
        { value: join(base) },
        { value: undefined },
        { value: undefined },
        { code: 'EEXIST' },
        { value: undefined },
        { code: 'ENOENT' },
        { value: undefined },
        { value: undefined },
      ]);
    }
  } finally {
    await real.rm(dir, { recursive: true, force: true });
  }
});
