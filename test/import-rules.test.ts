// The layers of src/ as STYLE.md draws them, checked on the real tree: each layer imports only
// the layers below it, no driver imports another, the pure layers touch no kernel interface,
// only host, image, drivers (and the guest, in its box) start processes, and nothing imports
// itself in a circle. A planted violation of each kind shows the checks can fail.
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { KERNEL_MODULES, LAYERS, PURE_LAYERS, SPAWNING_LAYERS } from '../scripts/layers.mjs';
import { importCycles, importGraph, importsOf, layerViolations } from './support/import-graph.js';

const RULES = {
  layers: LAYERS,
  pure: PURE_LAYERS,
  kernelModules: KERNEL_MODULES,
  spawning: SPAWNING_LAYERS,
};
const edges = await importGraph(join(import.meta.dirname, '..', 'src'));

describe('the import rules of src/', () => {
  test('the tree keeps every layer rule', () => {
    expect(edges.length).toBeGreaterThan(500);
    expect(layerViolations(edges, RULES)).toEqual([]);
  });

  test('the tree has no import cycle', () => {
    expect(importCycles(edges)).toEqual([]);
  });

  test('a planted forbidden import, cross-driver import, spawn or cycle is caught', () => {
    const planted = [
      ...importsOf('core/ids.ts', "import { x } from '../runtime/daemon.js';"),
      ...importsOf('core/units.ts', "import { readFile } from 'node:fs/promises';"),
      ...importsOf('drivers/qemu/box.ts', "import { y } from '../gvisor/box.js';"),
      ...importsOf('runtime/doctor.ts', "import { execFile } from 'node:child_process';"),
      ...importsOf('runtime/a.ts', "export { b } from './b.js';"),
      ...importsOf('runtime/b.ts', "import type { A } from './a.js';"),
    ];
    expect(layerViolations(planted, RULES)).toEqual([
      'core/ids.ts imports runtime/daemon.ts: src/core may import only ',
      'core/units.ts imports node:fs/promises: src/core is pure',
      'drivers/qemu/box.ts imports drivers/gvisor/box.ts: one driver never imports another',
      'runtime/doctor.ts imports node:child_process: only host, network, image, drivers, guest start processes',
    ]);
    expect(importCycles(planted)).toEqual([['runtime/a.ts', 'runtime/b.ts']]);
  });

  test('a type-only import of node:child_process starts nothing', () => {
    const edges = importsOf(
      'runtime/x.ts',
      "import type { ChildProcess } from 'node:child_process';",
    );
    expect(edges).toEqual([{ from: 'runtime/x.ts', to: 'node:child_process', typeOnly: true }]);
    expect(layerViolations(edges, RULES)).toEqual([]);
  });
});
