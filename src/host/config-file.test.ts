import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadConfig } from './config-file.js';

async function configFile(text: string): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), 'ironclaw-config-')), 'config.json');
  await writeFile(path, text);
  return path;
}

describe('loadConfig', () => {
  test('defaults when there is no file', async () => {
    const config = await loadConfig({}, { XDG_CONFIG_HOME: '/nonexistent' });
    expect(config).toEqual({ driver: 'bwrap', poolSize: 2, rootBoxUid: 65534 });
  });

  test('flags over environment over file over defaults', async () => {
    const path = await configFile(JSON.stringify({ pool: { size: 5 }, rootBoxUid: 4242 }));
    expect(await loadConfig({}, { IRONCLAW_CONFIG: path })).toMatchObject({
      poolSize: 5,
      rootBoxUid: 4242,
    });
    expect(await loadConfig({}, { IRONCLAW_CONFIG: path, IRONCLAW_POOL_SIZE: '3' })).toMatchObject({
      poolSize: 3,
    });
    expect(
      await loadConfig({ pool: { size: 1 } }, { IRONCLAW_CONFIG: path, IRONCLAW_POOL_SIZE: '3' }),
    ).toMatchObject({ poolSize: 1 });
  });

  test('a broken file, an unknown key or a bad value is an error naming the file', async () => {
    const notJson = await configFile('{ pool: ');
    await expect(loadConfig({}, { IRONCLAW_CONFIG: notJson })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining(notJson) as unknown,
    });
    const unknown = await configFile(JSON.stringify({ pools: 3 }));
    await expect(loadConfig({}, { IRONCLAW_CONFIG: unknown })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    const rootUid = await configFile(JSON.stringify({ rootBoxUid: 0 }));
    await expect(loadConfig({}, { IRONCLAW_CONFIG: rootUid })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(
      loadConfig({}, { IRONCLAW_CONFIG: '/nonexistent/config.json' }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(
      loadConfig({}, { XDG_CONFIG_HOME: '/nonexistent', IRONCLAW_POOL_SIZE: 'many' }),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('IRONCLAW_') as unknown,
    });
  });
});
