import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { IronClawError } from '../core/errors.js';
import { modinfoDepends, moduleName, modulesInLoadOrder } from './modules.js';

/** A fake .ko: some ELF-ish bytes and a .modinfo-style string table with a depends= field. */
function ko(depends: string): Buffer {
  return Buffer.concat([
    Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 0, 0]),
    Buffer.from(`license=GPL\0description=test\0depends=${depends}\0intree=Y\0name=x\0`),
  ]);
}

test('modinfoDepends reads the depends= field; moduleName treats - and _ alike', () => {
  expect(modinfoDepends(ko('virtio,virtio_ring'))).toEqual(['virtio', 'virtio_ring']);
  expect(modinfoDepends(ko(''))).toEqual([]);
  expect(modinfoDepends(Buffer.from('no modinfo here'))).toEqual([]);
  expect(moduleName('crc-t10dif.ko')).toBe('crc_t10dif');
});

describe('modulesInLoadOrder', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ironclaw-modules-'));
    const files: Record<string, string> = {
      'kernel/drivers/virtio/virtio_ring.ko': '',
      'kernel/drivers/virtio/virtio.ko': 'virtio_ring',
      'kernel/drivers/virtio/virtio_mmio.ko': 'virtio,virtio_ring',
      'kernel/drivers/char/virtio_console.ko': 'virtio,virtio_ring',
      'kernel/drivers/block/virtio_blk.ko': 'virtio,virtio_ring,crc-builtin',
      'kernel/loop/a.ko': 'b',
      'kernel/loop/b.ko': 'a',
    };
    for (const [path, depends] of Object.entries(files)) {
      await mkdir(join(dir, path, '..'), { recursive: true });
      await writeFile(join(dir, path), ko(depends));
    }
    await writeFile(
      join(dir, 'modules.builtin'),
      'kernel/lib/crc-builtin.ko\nkernel/fs/ext4/ext4.ko\n',
    );
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('puts every module after its dependencies, once each, skipping built-in ones', async () => {
    const order = await modulesInLoadOrder(dir, [
      'virtio_mmio',
      'virtio_console',
      'virtio_blk',
      'ext4',
    ]);
    expect(order.map((module) => module.name)).toEqual([
      'virtio_ring',
      'virtio',
      'virtio_mmio',
      'virtio_console',
      'virtio_blk',
    ]);
    expect(order[0]?.file).toBe(join(dir, 'kernel/drivers/virtio/virtio_ring.ko'));
  });

  test('a missing module and a dependency cycle are errors that say which', async () => {
    await expect(modulesInLoadOrder(dir, ['virtio_net'])).rejects.toThrow(/no module virtio_net/);
    const cycle = await modulesInLoadOrder(dir, ['a']).catch((error: unknown) => error);
    expect(cycle).toBeInstanceOf(IronClawError);
    expect((cycle as Error).message).toMatch(/cycle: a -> b -> a/);
  });
});
