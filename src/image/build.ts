import { createHash } from 'node:crypto';
import { readFile, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BOX_ENV, BOX_ETC_FILES } from '../host/box-env.js';
import { buildOnce, exists, imageCacheDir, inputHash } from './cache.js';
import { RESTORE_HELPER, stage1Script, stage2Script } from './init.js';
import { buildInitramfs } from './initramfs.js';
import {
  cachedKernels,
  ensureKernel,
  type KernelArtifact,
  resolveKernelPackage,
} from './kernel.js';
import { buildRootfs, ROOTFS_LAYOUT_VERSION } from './rootfs.js';
import { nativeSeccompLoader } from './seccomp-loader.js';
import { type GuestImage, writeManifest } from './store.js';
import { buildError, type Progress } from './tools.js';
import { userlandPackages } from './userland.js';
import { boxEtcDir, guestBundlePath } from '../host/package-files.js';
import { sandboxSeccompFilter } from '../host/seccomp-filter.js';
import { SECCOMP_LOADER } from '../protocol/guest-seccomp.js';

/** The statically linked busybox of Debian's busybox-static package. */
const BUSYBOX = '/bin/busybox';

export interface ImageOptions {
  /** Default: imageCacheDir(). */
  cacheDir?: string;
  /** Where progress goes; default: nowhere. */
  progress?: Progress;
  /** Ask apt for the current cloud kernel even when one is cached (`ironclaw image build`). */
  refreshKernel?: boolean;
}

const ensured = new Map<string, Promise<GuestImage>>();

/**
 * The guest image for this host as it is now, built where the cache lacks it: the kernel (and
 * its modules) from Debian's cloud kernel package, the root filesystem from the host's packages
 * and node, the initramfs with the guest agent. Each part lives in the cache under a hash of
 * its own inputs, so a new guest agent rebuilds only the (small) initramfs and a package
 * upgrade only the root filesystem. Sandbox starts call this; it is remembered per process.
 */
export function ensureImage(options: ImageOptions = {}): Promise<GuestImage> {
  const cacheDir = options.cacheDir ?? imageCacheDir();
  if (options.refreshKernel) return build(cacheDir, options);
  let image = ensured.get(cacheDir);
  if (!image) {
    image = build(cacheDir, options);
    ensured.set(cacheDir, image);
    image.catch(() => ensured.delete(cacheDir));
  }
  return image;
}

async function build(cacheDir: string, options: ImageOptions): Promise<GuestImage> {
  const progress = options.progress ?? (() => undefined);
  const kernel = await pickKernel(cacheDir, options.refreshKernel ?? false, progress);
  const [rootfs, initramfs] = await Promise.all([
    ensureRootfs(cacheDir, progress),
    ensureInitramfs(cacheDir, kernel, progress),
  ]);
  const key = inputHash({ kernel: kernel.dir, rootfs: rootfs.key, initramfs: initramfs.key });
  const image: GuestImage = {
    key,
    createdAt: new Date().toISOString(),
    kernel: {
      path: join(kernel.dir, kernel.kernel),
      format: kernel.format,
      detail: kernel.formatDetail,
      release: kernel.release,
      package: `${kernel.package.name} ${kernel.package.version}`,
    },
    initramfs: join(initramfs.dir, 'initramfs.cpio'),
    rootfs: join(rootfs.dir, 'rootfs.ext4'),
  };
  return writeManifest(cacheDir, image);
}

async function pickKernel(
  cacheDir: string,
  refresh: boolean,
  progress: Progress,
): Promise<KernelArtifact> {
  if (!refresh) {
    const [newest] = await cachedKernels(cacheDir);
    if (newest) return newest;
  }
  progress('kernel: asking apt for the current cloud kernel (apt-cache show)');
  return ensureKernel(cacheDir, await resolveKernelPackage(), progress);
}

async function ensureRootfs(
  cacheDir: string,
  progress: Progress,
): Promise<{ key: string; dir: string }> {
  const [packages, nodePath, etcDir] = await Promise.all([
    userlandPackages(),
    realpath(process.execPath),
    boxEtcDir(),
  ]);
  const node = await stat(nodePath);
  const etc = await Promise.all(
    BOX_ETC_FILES.map(async (name) => [name, await fileHash(join(etcDir, name))]),
  );
  const key = inputHash({
    layout: ROOTFS_LAYOUT_VERSION,
    packages,
    node: { path: nodePath, size: node.size, mtimeMs: node.mtimeMs },
    etc,
  });
  const dir = join(cacheDir, 'rootfs', key);
  if (!(await exists(dir))) progress(`rootfs ${key}: building`);
  await buildOnce(dir, async (staging) => {
    const started = performance.now();
    await buildRootfs(staging, { packages, nodePath, etcDir }, progress);
    progress(`rootfs ${key}: built in ${Math.round((performance.now() - started) / 1000)} s`);
  });
  return { key, dir };
}

async function ensureInitramfs(
  cacheDir: string,
  kernel: KernelArtifact,
  progress: Progress,
): Promise<{ key: string; dir: string }> {
  const agent = await guestBundlePath();
  const busybox = await realpath(BUSYBOX).catch(() => BUSYBOX);
  // The same program bwrap loads; the host names its sha256 to the guest (guest-seccomp.ts).
  const seccompFilter = (await sandboxSeccompFilter()).path;
  const seccompLoaderNative = await nativeSeccompLoader(cacheDir, progress);
  const key = inputHash({
    kernel: kernel.dir,
    busybox: await fileHash(busybox),
    agent: await fileHash(agent),
    stage1: stage1Script(kernel.modules),
    stage2: stage2Script(BOX_ENV),
    restoreHelper: RESTORE_HELPER,
    seccompFilter: await fileHash(seccompFilter),
    seccompLoader: SECCOMP_LOADER,
    seccompLoaderNative:
      seccompLoaderNative && createHash('sha256').update(seccompLoaderNative).digest('hex'),
  });
  const dir = join(cacheDir, 'initramfs', key);
  await buildOnce(dir, async (staging) => {
    const bytes = await buildInitramfs(
      staging,
      {
        busybox,
        agent,
        seccompFilter,
        seccompLoaderNative,
        modulesDir: join(kernel.dir, 'modules'),
        modules: kernel.modules,
      },
      BOX_ENV,
    );
    progress(
      `initramfs ${key}: ${Math.round(bytes / 1024)} KiB (busybox, ${kernel.modules.length} modules, guest agent)`,
    );
  });
  return { key, dir };
}

async function fileHash(path: string): Promise<string> {
  const data = await readFile(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' && path.endsWith('guest.mjs')) {
      throw buildError(`the guest agent bundle ${path} is missing: run npm run build`, error);
    }
    throw error;
  });
  return createHash('sha256').update(data).digest('hex');
}
