import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { DRIVER_LIST } from '../src/drivers/index.js';
import { REPO } from './helpers/cli.js';
import { GUARANTEES, LAYERS, guaranteeTable, isFile, withTable } from '../scripts/guarantees.mjs';

describe('the guarantees table (scripts/guarantees.mjs)', () => {
  test('README.md holds the table as generated: run `node scripts/guarantees.mjs --write`', async () => {
    const readme = await readFile(join(REPO, 'README.md'), 'utf8');
    expect(readme).toContain(guaranteeTable());
    expect(withTable(readme, guaranteeTable())).toBe(readme);
  });

  test('every driver has a column, and every layer a cell in it', () => {
    expect(Object.keys(GUARANTEES).sort()).toEqual(DRIVER_LIST.map((d) => d.name).sort());
    for (const [driver, cells] of Object.entries(GUARANTEES))
      expect([driver, Object.keys(cells).sort()]).toEqual([
        driver,
        LAYERS.map((layer) => layer.id).sort(),
      ]);
  });

  test("agrees with each driver's declared capabilities", () => {
    for (const driver of DRIVER_LIST) {
      const cells = GUARANTEES[driver.name];
      // Memory of its own is a VM's, and a VM has a kernel of its own.
      if (driver.capabilities.ownMemory)
        expect([driver.name, cells?.kernel?.holds]).toEqual([driver.name, 'yes']);
    }
  });

  test('every claim that holds names its proof, and every file named exists', async () => {
    for (const [driver, cells] of Object.entries(GUARANTEES)) {
      for (const [layer, cell] of Object.entries(cells)) {
        if (cell.holds !== 'no')
          expect([driver, layer, cell.proof.length > 0]).toEqual([driver, layer, true]);
        for (const item of cell.proof.filter((proof) => isFile(proof)))
          await expect(
            access(join(REPO, item)),
            `${driver} ${layer}: ${item}`,
          ).resolves.toBeUndefined();
      }
    }
  });
});
