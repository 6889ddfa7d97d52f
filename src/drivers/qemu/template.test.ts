import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { findTemplate, maxTemplates, publishTemplate, removeTemplates } from './template.js';

const MAX_TEMPLATES = maxTemplates({});
import { vmmBase } from './runtime-dir.js';

// The template store on its own (no VM): templates are stand-in files in a scratch state dir.
describe('the VM template store', () => {
  let scratch: string;
  const saved = process.env.IRONCLAW_STATE_DIR;
  beforeEach(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'ironclaw-templates-'));
    process.env.IRONCLAW_STATE_DIR = join(scratch, 'state');
  });
  afterEach(async () => {
    if (saved === undefined) delete process.env.IRONCLAW_STATE_DIR;
    else process.env.IRONCLAW_STATE_DIR = saved;
    await rm(scratch, { recursive: true, force: true });
    // As root, VM directories live beside the state directory (`<state dir>-vmm`).
    await rm(`${join(scratch, 'state')}-vmm`, { recursive: true, force: true });
  });

  /** Publishes a stand-in template of `key`, last used `minutesAgo` minutes ago. */
  async function publish(key: string, minutesAgo = 0): Promise<void> {
    const from = await mkdtemp(join(scratch, 'vm-'));
    await writeFile(join(from, 'memory'), 'ram');
    await writeFile(join(from, 'state'), 'state');
    const template = await publishTemplate(key, from);
    const used = new Date(Date.now() - minutesAgo * 60_000);
    await utimes(template.dir, used, used);
  }

  const keys = async (): Promise<string[]> =>
    (await readdir(join(await vmmBase(), 'templates'))).sort();

  test(`keeps the ${MAX_TEMPLATES} templates used last and evicts the others when it publishes one`, async () => {
    const names = Array.from({ length: MAX_TEMPLATES + 2 }, (_, index) => `key${index}`);
    // key0 is the oldest ... the last one published is the newest.
    for (const [index, name] of names.entries()) await publish(name, 100 - index);
    expect(await keys()).toEqual(names.slice(-MAX_TEMPLATES).sort());
  });

  test('finding a template counts as using it: an old template found again is kept', async () => {
    for (let index = 0; index < MAX_TEMPLATES; index++) await publish(`key${index}`, 100 - index);
    expect(await findTemplate('key0')).toBeDefined(); // the oldest, used again now
    await publish('fresh');
    const kept = await keys();
    expect(kept).toContain('key0');
    expect(kept).not.toContain('key1'); // now the one used longest ago
    expect(kept).toHaveLength(MAX_TEMPLATES);
  });

  test('IRONCLAW_VM_TEMPLATES sets how many are kept; anything but a whole number from 1 is refused', () => {
    expect(maxTemplates({ IRONCLAW_VM_TEMPLATES: '1' })).toBe(1);
    expect(maxTemplates({ IRONCLAW_VM_TEMPLATES: '' })).toBe(4);
    for (const bad of ['0', '-1', '2.5', 'many', '1000'])
      expect(() => maxTemplates({ IRONCLAW_VM_TEMPLATES: bad })).toThrow(/IRONCLAW_VM_TEMPLATES/);
  });

  test('removes staging directories left by a process that died while publishing', async () => {
    const dir = join(await vmmBase(), 'templates');
    await mkdir(join(dir, '.dead-abc'), { recursive: true });
    await mkdir(join(dir, '.busy-def'), { recursive: true });
    const longAgo = new Date(Date.now() - 2 * 60 * 60_000);
    await utimes(join(dir, '.dead-abc'), longAgo, longAgo);
    await publish('key');
    expect(await keys()).toEqual(['.busy-def', 'key']);
    expect(await removeTemplates()).toBe(1);
  });
});
