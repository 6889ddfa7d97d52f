import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createSandbox } from '../src/index.js';
import { freshStateDir, runCli } from './helpers/cli.js';
import { probeCgroups } from './support/cgroup-probe.js';

/**
 * Ids are names, not host resources: a sandbox id used by two processes at once (the daemon's
 * sandbox and one a program made with the library) must not give them one cgroup, or
 * destroying either would kill the other's processes.
 */
const cgroups = await probeCgroups();
const skip = cgroups.available ? '' : ` [skipped: ${cgroups.reason}]`;

describe.skipIf(!cgroups.available)(`one sandbox id in two processes${skip}`, () => {
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    env = { IRONCLAW_STATE_DIR: await freshStateDir(), IRONCLAW_POOL_SIZE: '0' };
  });
  afterAll(async () => {
    await runCli(['daemon', '--stop'], { env });
    await rm(env.IRONCLAW_STATE_DIR ?? '', { recursive: true, force: true });
  });

  test('destroying the library’s sandbox leaves the daemon’s sandbox of the same id running', async () => {
    const id = `twin-${process.pid}`;
    const created = await runCli(['sandbox', 'create', '--id', id, '--json'], { env });
    expect(created.code).toBe(0);
    const theirs = JSON.parse(created.stdout) as {
      id: string;
      isolation: { layers: { cgroup: { on: boolean; detail: string } } };
    };
    expect(theirs.id).toBe(id);
    expect(theirs.isolation.layers.cgroup.on).toBe(true);
    const mine = await createSandbox({ id });
    await mine.destroy();
    const exec = await runCli(['sandbox', 'exec', id, '--', 'echo', 'alive'], { env });
    expect(exec).toMatchObject({ code: 0, stdout: 'alive\n' });
    expect(mine.isolation.layers.cgroup.detail).not.toBe(theirs.isolation.layers.cgroup.detail);
  });
});
