import { mkdtemp, rm, symlink, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { IronClawError } from '../core/errors.js';
import { scanWorkspace } from './workspace-scan.js';

let dir: string;
const caps = { maxBytes: 1024 * 1024, maxEntries: 1000 };

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ironclaw-scan-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function failure(promise: Promise<unknown>): Promise<IronClawError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(IronClawError);
  return error as IronClawError;
}

describe('scanWorkspace', () => {
  test('lists paths without following symlinks, leaving out what the rules exclude', async () => {
    await mkdir(join(dir, 'src'));
    await writeFile(join(dir, 'src/a.ts'), 'a');
    await writeFile(join(dir, '.env'), 'secret');
    await writeFile(join(dir, 'x.tmp'), 'tmp');
    await symlink('/etc', join(dir, 'etc-link'));
    const scan = await scanWorkspace(dir, { ...caps, exclude: ['*.tmp'] });
    expect(scan.entries.map((e) => `${e.type} ${e.path}`)).toEqual([
      'symlink etc-link',
      'directory src',
      'file src/a.ts',
    ]);
    expect(scan.entries[0]?.target).toBe('/etc');
    expect(scan.excluded).toEqual([
      { path: '.env', pattern: '.env' },
      { path: 'x.tmp', pattern: '*.tmp' },
    ]);
    expect(scan.totalBytes).toBe(1);
  });

  test('an .ironclawignore with a negation is refused, naming its line', async () => {
    await writeFile(join(dir, '.ironclawignore'), 'dist/\n!dist/keep\n');
    const error = await failure(scanWorkspace(dir, caps));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain('.ironclawignore line 2');
  });

  test('the caps: bytes and paths', async () => {
    await writeFile(join(dir, 'big'), Buffer.alloc(2048));
    expect((await failure(scanWorkspace(dir, { ...caps, maxBytes: 1024 }))).code).toBe(
      'WORKSPACE_TOO_LARGE',
    );
    for (const name of ['a', 'b', 'c']) await writeFile(join(dir, name), '');
    const error = await failure(scanWorkspace(dir, { ...caps, maxEntries: 2 }));
    expect(error.message).toContain('more than 2 paths');
  });

  test('a file instead of a directory is a clear error', async () => {
    await writeFile(join(dir, 'f'), '');
    expect((await failure(scanWorkspace(join(dir, 'f'), caps))).message).toContain(
      'is not a directory',
    );
  });
});
