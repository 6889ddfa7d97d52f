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
    expect(config).toEqual({
      driver: 'bwrap',
      poolSize: 2,
      rootBoxUid: 65534,
      boxUids: { first: 0x70000000, count: 65536 },
      defaultMemoryBytes: 2 * 1024 ** 3,
      defaultAllowNet: [],
      auditMaxAgeMs: 30 * 86_400_000,
      auditMaxBytes: 256 * 1024 ** 2,
      agent: { provider: 'openai', model: undefined, prices: {}, servers: [] },
    });
  });

  test('agent: provider, model, prices and servers; flags over environment over file', async () => {
    const path = await configFile(
      JSON.stringify({
        agent: {
          provider: 'anthropic',
          model: 'claude-x',
          prices: { 'claude-x': { inputPerMTok: 3, outputPerMTok: 15 } },
          servers: [{ name: 'files', command: 'npx', args: ['server'], allowNet: ['example.com'] }],
        },
      }),
    );
    expect((await loadConfig({}, { IRONCLAW_CONFIG: path })).agent).toEqual({
      provider: 'anthropic',
      model: 'claude-x',
      prices: { 'claude-x': { inputPerMTok: 3, outputPerMTok: 15 } },
      servers: [{ name: 'files', command: 'npx', args: ['server'], allowNet: ['example.com'] }],
    });
    const env = { IRONCLAW_CONFIG: path, IRONCLAW_AGENT_MODEL: 'other' };
    expect((await loadConfig({}, env)).agent.model).toBe('other');
    expect((await loadConfig({ agent: { model: 'flag' } }, env)).agent).toMatchObject({
      provider: 'anthropic',
      model: 'flag',
    });
    for (const agent of [
      { provider: 'gemini' },
      { servers: [{ name: 'ironclaw', command: 'x' }] },
      { servers: [{ name: 'Bad Name', command: 'x' }] },
      {
        servers: [
          { name: 'a', command: 'x' },
          { name: 'a', command: 'y' },
        ],
      },
      { prices: { m: { inputPerMTok: -1, outputPerMTok: 1 } } },
    ]) {
      const bad = await configFile(JSON.stringify({ agent }));
      await expect(loadConfig({}, { IRONCLAW_CONFIG: bad })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringContaining('agent') as unknown,
      });
    }
  });

  test('audit retention: file, environment and "none"', async () => {
    const path = await configFile(JSON.stringify({ audit: { maxAge: '7d', maxSize: '1g' } }));
    expect(await loadConfig({}, { IRONCLAW_CONFIG: path })).toMatchObject({
      auditMaxAgeMs: 7 * 86_400_000,
      auditMaxBytes: 1024 ** 3,
    });
    expect(
      await loadConfig(
        {},
        { IRONCLAW_CONFIG: path, IRONCLAW_AUDIT_MAX_AGE: 'none', IRONCLAW_AUDIT_MAX_SIZE: '64m' },
      ),
    ).toMatchObject({ auditMaxAgeMs: undefined, auditMaxBytes: 64 * 1024 ** 2 });
    await expect(
      loadConfig({}, { IRONCLAW_CONFIG: path, IRONCLAW_AUDIT_MAX_AGE: 'forever' }),
    ).rejects.toMatchObject({
      message: expect.stringContaining('IRONCLAW_AUDIT_MAX_AGE') as unknown,
    });
  });

  test('boxUids: a range of per-box host uids that must not reach 2^32 - 1, or false', async () => {
    const path = await configFile(JSON.stringify({ boxUids: { first: 0x70000000, count: 1024 } }));
    expect(await loadConfig({}, { IRONCLAW_CONFIG: path })).toMatchObject({
      boxUids: { first: 0x70000000, count: 1024 },
    });
    const shared = await configFile(JSON.stringify({ boxUids: false }));
    expect(await loadConfig({}, { IRONCLAW_CONFIG: shared })).toMatchObject({ boxUids: false });
    for (const boxUids of [
      true,
      { first: 0, count: 10 },
      { first: 2 ** 32 - 10, count: 10 },
      { first: 100_000, count: 0 },
      { first: 100_000 },
    ]) {
      const bad = await configFile(JSON.stringify({ boxUids }));
      await expect(loadConfig({}, { IRONCLAW_CONFIG: bad })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
    }
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

  test('an error names the key, what it expects and what it got', async () => {
    const cases: [unknown, RegExp][] = [
      [
        { pools: 3 },
        /unknown key "pools"; its keys are driver, pool\.size, rootBoxUid, boxUids\.first, boxUids\.count, allowNet, limits\.memory/,
      ],
      [{ pool: { size: 'x' } }, /pool\.size: expected a number, got "x"/],
      [{ pool: { size: 100 } }, /pool\.size: must be at most 64, got 100/],
      [{ pool: { size: 1.5 } }, /pool\.size: expected a whole number/],
      [{ rootBoxUid: 0 }, /rootBoxUid: must be at least 1, got 0/],
      [
        { driver: 'docker' },
        /driver: expected "bwrap" or "gvisor" or "qemu" or "firecracker", got "docker"/,
      ],
      [
        { limits: { memory: 'lots' } },
        /limits\.memory: expected a size such as 512m or 2g, or "none"/,
      ],
      [[], /expected an object, got \[\]/],
    ];
    for (const [config, message] of cases) {
      const path = await configFile(JSON.stringify(config));
      const error = await loadConfig({}, { IRONCLAW_CONFIG: path }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'INVALID_ARGUMENT' });
      expect((error as Error).message).toContain(`configuration file ${path}`);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toContain('Invalid input');
    }
  });

  test('an error in the environment names the variable', async () => {
    const env = { XDG_CONFIG_HOME: '/nonexistent' };
    await expect(loadConfig({}, { ...env, IRONCLAW_POOL_SIZE: 'many' })).rejects.toThrow(
      /IRONCLAW_POOL_SIZE: expected a number, got "many"/,
    );
    await expect(loadConfig({}, { ...env, IRONCLAW_DRIVER: 'docker' })).rejects.toThrow(
      /IRONCLAW_DRIVER: expected "bwrap" or .*, got "docker"/,
    );
    await expect(loadConfig({}, { ...env, IRONCLAW_MEMORY: '-1' })).rejects.toThrow(
      /IRONCLAW_MEMORY: expected a size/,
    );
  });

  test('allowNet: the default egress rules of long-lived sandboxes, checked as rules', async () => {
    const path = await configFile(JSON.stringify({ allowNet: ['pypi.org', 'github.com:22'] }));
    expect((await loadConfig({}, { IRONCLAW_CONFIG: path })).defaultAllowNet).toEqual([
      'pypi.org',
      'github.com:22',
    ]);
    const bad = await configFile(JSON.stringify({ allowNet: ['http://pypi.org/'] }));
    await expect(loadConfig({}, { IRONCLAW_CONFIG: bad })).rejects.toThrow(/allowNet/);
  });

  test('the default memory limit of long-lived sandboxes: file, environment, none', async () => {
    const path = await configFile(JSON.stringify({ limits: { memory: '512m' } }));
    expect(await loadConfig({}, { IRONCLAW_CONFIG: path })).toMatchObject({
      defaultMemoryBytes: 512 * 1024 ** 2,
    });
    expect(await loadConfig({}, { IRONCLAW_CONFIG: path, IRONCLAW_MEMORY: '1g' })).toMatchObject({
      defaultMemoryBytes: 1024 ** 3,
    });
    const none = await loadConfig({}, { IRONCLAW_CONFIG: path, IRONCLAW_MEMORY: 'none' });
    expect(none.defaultMemoryBytes).toBeUndefined();
  });
});
