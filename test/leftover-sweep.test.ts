import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freshStateDir, runCli } from './helpers/cli.js';
import { deadOwner } from './support/dead-owner.js';
import { eventually } from './support/host-processes.js';

async function liveOwner(): Promise<string> {
  const stat = await readFile('/proc/self/stat', 'utf8');
  return `${process.pid} ${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]}\n`;
}

describe('the sweep of dead owners’ leftovers', () => {
  let stateDir: string;
  let env: NodeJS.ProcessEnv;
  /** Where each driver keeps runtime directories under this state directory. */
  let bases: string[];
  beforeAll(async () => {
    stateDir = await freshStateDir();
    env = { IRONCLAW_STATE_DIR: stateDir, IRONCLAW_POOL_SIZE: '0' };
    const vmm = process.getuid?.() === 0 ? `${stateDir}-vmm` : join(stateDir, 'qemu');
    bases = [join(stateDir, 'gvisor'), vmm];
    await mkdir(bases[0] ?? '', { mode: 0o700 });
    await mkdir(vmm, { mode: process.getuid?.() === 0 ? 0o711 : 0o700 });
  });
  afterAll(async () => {
    await runCli(['daemon', '--stop'], { env });
    await Promise.all(
      [stateDir, `${stateDir}-vmm`].map((dir) => rm(dir, { recursive: true, force: true })),
    );
  });

  /** A dead owner's and a live owner's directory in every base; returns the dead ones. */
  async function plant(tag: string): Promise<string[]> {
    const [dead, live] = [await deadOwner(), await liveOwner()];
    const planted: string[] = [];
    for (const base of bases) {
      for (const [name, owner] of [
        [`${tag}-dead-AbC123`, dead],
        [`${tag}-live-AbC123`, live],
      ] as const) {
        await mkdir(join(base, name), { mode: 0o700 });
        await writeFile(join(base, name, 'memory'), Buffer.alloc(4096));
        await writeFile(join(base, name, 'owner'), owner);
      }
      planted.push(join(base, `${tag}-dead-AbC123`));
    }
    return planted;
  }

  const names = async (): Promise<string[]> =>
    (await Promise.all(bases.map((base) => readdir(base)))).flat().sort();

  test('a supervised one-shot run sweeps (the first in its state directory, then rarely)', async () => {
    await plant('once');
    // --timeout keeps node supervising: a plain bwrap run hands over (leaving nothing to sweep).
    const run = await runCli(['exec', '--timeout', '30s', '--', 'true'], { env });
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(await names()).toEqual(['once-live-AbC123', 'once-live-AbC123']);
  });

  test('the daemon sweeps when it starts', async () => {
    await plant('daemon');
    const list = await runCli(['sandbox', 'list'], { env });
    expect(list.code).toBe(0);
    const left = await eventually(names, (found) => !found.some((name) => name.includes('dead')));
    expect(left).toEqual([
      'daemon-live-AbC123',
      'daemon-live-AbC123',
      'once-live-AbC123',
      'once-live-AbC123',
    ]);
  });
});
