import { copyFile, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod/mini';
import { formatBytes } from '../core/units.js';
import { buildOnce, exists, inputHash } from './cache.js';
import { GUEST_MODULES, modulesInLoadOrder } from './modules.js';
import { buildError, type Progress, runTool } from './tools.js';
import { extractVmlinux } from './vmlinux.js';

/** Debian's metapackage that always depends on the current cloud kernel. */
export const KERNEL_META_PACKAGE = 'linux-image-cloud-amd64';

export interface KernelPackage {
  name: string;
  version: string;
}

const KernelArtifactSchema = z.object({
  package: z.object({ name: z.string(), version: z.string() }),
  release: z.string(),
  /** File name in the artifact directory of what QEMU boots: vmlinux (PVH) or vmlinuz. */
  kernel: z.string(),
  format: z.enum(['pvh', 'bzimage']),
  /** Why that format: the compression unpacked, or why the bzImage is booted as it is. */
  formatDetail: z.string(),
  /** Modules in load order; files are in the artifact directory's modules/. */
  modules: z.array(z.string()),
  /** The modules asked for (GUEST_MODULES then): an artifact made for another list is not used. */
  wanted: z.optional(z.array(z.string())),
});
type KernelRecord = z.infer<typeof KernelArtifactSchema>;
export type KernelArtifact = KernelRecord & { dir: string };

/**
 * The package the metapackage points at now, from apt's local lists (`apt-cache show`; about a
 * second, so it is asked only when building, not on every sandbox start).
 */
export async function resolveKernelPackage(meta = KERNEL_META_PACKAGE): Promise<KernelPackage> {
  const text = await runTool('apt-cache', ['show', '--no-all-versions', meta]);
  const depends = /^Depends:\s*([^\s,(]+)\s*\(=\s*([^)\s]+)\s*\)/m.exec(text);
  if (!depends?.[1] || !depends[2]) {
    throw buildError(
      `apt knows no ${meta} with an exact kernel dependency; run apt-get update (Debian's cloud kernel is needed)`,
    );
  }
  return { name: depends[1], version: depends[2] };
}

export function kernelDir(cacheDir: string, kernel: KernelPackage): string {
  const name = `${kernel.name}_${kernel.version}_${inputHash(GUEST_MODULES).slice(0, 8)}`;
  return join(cacheDir, 'kernels', name.replace(/[^\w.+-]/g, '_'));
}

/** The kernel artifacts already in the cache, newest first. */
export async function cachedKernels(cacheDir: string): Promise<KernelArtifact[]> {
  const base = join(cacheDir, 'kernels');
  const names = await readdir(base).catch(() => []);
  const found = await Promise.all(
    names
      .filter((name) => !/\.(lock|partial-\d+)$/.test(name))
      .map((name) => readKernel(join(base, name))),
  );
  return found
    .filter((kernel): kernel is KernelArtifact => kernel !== undefined)
    .filter((kernel) => kernel.wanted?.join() === GUEST_MODULES.join())
    .sort((a, b) => b.package.version.localeCompare(a.package.version, 'en', { numeric: true }));
}

async function readKernel(dir: string): Promise<KernelArtifact | undefined> {
  const text = await readFile(join(dir, 'kernel.json'), 'utf8').catch(() => undefined);
  const parsed = text === undefined ? undefined : KernelArtifactSchema.safeParse(JSON.parse(text));
  return parsed?.success ? { ...parsed.data, dir } : undefined;
}

/**
 * The kernel and guest modules of `kernel`, from the cache or fetched now: `apt-get download`
 * (never installed on the host), unpacked with `dpkg-deb -x` into a scratch directory, from
 * which only the kernel (as a PVH vmlinux where possible) and the guest's modules are kept.
 */
export async function ensureKernel(
  cacheDir: string,
  kernel: KernelPackage,
  progress: Progress,
): Promise<KernelArtifact> {
  const dir = await buildOnce(kernelDir(cacheDir, kernel), async (staging) => {
    const scratch = join(staging, 'scratch');
    await mkdir(scratch);
    progress(`kernel: downloading ${kernel.name} ${kernel.version} (apt-get download)`);
    await runTool('apt-get', ['download', `${kernel.name}=${kernel.version}`], { cwd: scratch });
    const deb = (await readdir(scratch)).find((name) => name.endsWith('.deb'));
    if (!deb) throw buildError(`apt-get download ${kernel.name} left no .deb file`);
    const debBytes = (await stat(join(scratch, deb))).size;
    progress(`kernel: unpacking ${deb} (${formatBytes(debBytes)}, dpkg-deb -x)`);
    const tree = join(scratch, 'tree');
    await runTool('dpkg-deb', ['-x', join(scratch, deb), tree]);
    const boot = await readdir(join(tree, 'boot'));
    const image = boot.find((name) => name.startsWith('vmlinuz-'));
    if (!image) throw buildError(`${deb} has no boot/vmlinuz-*`);
    const release = image.slice('vmlinuz-'.length);
    const modulesDir = (await exists(join(tree, 'lib/modules', release)))
      ? join(tree, 'lib/modules', release)
      : join(tree, 'usr/lib/modules', release);
    const modules = await modulesInLoadOrder(modulesDir, GUEST_MODULES);
    await mkdir(join(staging, 'modules'));
    for (const module of modules) {
      await copyFile(module.file, join(staging, 'modules', `${module.name}.ko`));
    }
    progress(`kernel: ${release}: modules ${modules.map((m) => m.name).join(', ')}`);
    const bzImage = await readFile(join(tree, 'boot', image));
    const extracted = extractVmlinux(bzImage);
    if (extracted.ok) await writeFile(join(staging, 'vmlinux'), extracted.vmlinux);
    else await writeFile(join(staging, 'vmlinuz'), bzImage);
    await copyFile(join(tree, 'boot', `config-${release}`), join(staging, 'config')).catch(
      () => undefined,
    );
    await rm(scratch, { recursive: true, force: true });
    const record: KernelRecord = {
      package: kernel,
      release,
      kernel: extracted.ok ? 'vmlinux' : 'vmlinuz',
      format: extracted.ok ? 'pvh' : 'bzimage',
      formatDetail: extracted.ok
        ? `uncompressed PVH vmlinux (unpacked from the ${extracted.compression} bzImage)`
        : `bzImage, booted compressed: ${extracted.reason}`,
      modules: modules.map((module) => module.name),
      wanted: [...GUEST_MODULES],
    };
    progress(`kernel: ${record.formatDetail}`);
    await writeFile(join(staging, 'kernel.json'), `${JSON.stringify(record, null, 2)}\n`);
  });
  const artifact = await readKernel(dir);
  if (!artifact) throw buildError(`${dir}/kernel.json is missing or damaged; remove ${dir}`);
  return artifact;
}
