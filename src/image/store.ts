import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as z from 'zod/mini';
import { IronClawError } from '../core/errors.js';
import { imageCacheDir } from './cache.js';

/**
 * Guest images as the cache records them: one manifest per image (images/<key>.json) naming
 * its three parts, which live in their own directories (kernels/, rootfs/, initramfs/) and may
 * be shared by several images. Removing an image removes its manifest, then every part no
 * remaining image uses.
 */
const GuestImageSchema = z.object({
  key: z.string(),
  createdAt: z.string(),
  kernel: z.object({
    path: z.string(),
    format: z.enum(['pvh', 'bzimage']),
    detail: z.string(),
    release: z.string(),
    package: z.string(),
  }),
  initramfs: z.string(),
  rootfs: z.string(),
});
export type GuestImage = z.infer<typeof GuestImageSchema>;

export interface ImageListing extends GuestImage {
  /** Bytes of the image's files (parts shared with other images are counted for each). */
  bytes: number;
}

const PART_DIRS = ['kernels', 'rootfs', 'initramfs'] as const;

/** Records `image` (keeping the first record's date when it exists already) and returns it. */
export async function writeManifest(cacheDir: string, image: GuestImage): Promise<GuestImage> {
  const file = join(cacheDir, 'images', `${image.key}.json`);
  const existing = await readManifest(file);
  if (existing) return existing;
  await mkdir(dirname(file), { recursive: true, mode: 0o755 });
  const partial = `${file}.${process.pid}`;
  await writeFile(partial, `${JSON.stringify(image, null, 2)}\n`, { mode: 0o644 });
  await rename(partial, file);
  return image;
}

async function readManifest(file: string): Promise<GuestImage | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const parsed = GuestImageSchema.safeParse(JSON.parse(text));
  return parsed.success ? parsed.data : undefined;
}

/** Every recorded image, newest first, with its size on disk. */
export async function listImages(cacheDir = imageCacheDir()): Promise<ImageListing[]> {
  const dir = join(cacheDir, 'images');
  const names = (await readdir(dir).catch(() => [])).filter((name) => name.endsWith('.json'));
  const images = await Promise.all(names.map((name) => readManifest(join(dir, name))));
  const listed = await Promise.all(
    images
      .filter((image): image is GuestImage => image !== undefined)
      .map(async (image) => {
        const sizes = await Promise.all(
          [image.kernel.path, image.initramfs, image.rootfs].map((path) =>
            stat(path).then(
              (info) => info.size,
              () => 0,
            ),
          ),
        );
        return { ...image, bytes: sizes.reduce((a, b) => a + b, 0) };
      }),
  );
  return listed.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
}

/**
 * Removes the image `key` (or every image, for 'all') and the parts no other image uses.
 * Returns the keys removed. A sandbox running on a removed image keeps its open files.
 */
export async function removeImage(key: string, cacheDir = imageCacheDir()): Promise<string[]> {
  const images = await listImages(cacheDir);
  const doomed = key === 'all' ? images : images.filter((image) => image.key === key);
  if (doomed.length === 0) {
    throw new IronClawError(
      'NOT_FOUND',
      `no guest image ${JSON.stringify(key)} in ${cacheDir}; \`ironclaw image list\` shows them`,
    );
  }
  await Promise.all(
    doomed.map((image) => rm(join(cacheDir, 'images', `${image.key}.json`), { force: true })),
  );
  const kept = images.filter((image) => !doomed.includes(image));
  const used = new Set(
    kept.flatMap((image) => [
      dirname(image.kernel.path),
      dirname(image.initramfs),
      dirname(image.rootfs),
    ]),
  );
  for (const part of PART_DIRS) {
    const base = join(cacheDir, part);
    for (const name of await readdir(base).catch(() => [])) {
      const dir = join(base, name);
      // Locks and partial builds belong to builds in progress.
      if (/\.(lock|partial-\d+)$/.test(name) || used.has(dir)) continue;
      await rm(dir, { recursive: true, force: true });
    }
  }
  return doomed.map((image) => image.key);
}
