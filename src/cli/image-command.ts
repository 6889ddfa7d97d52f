import { ensureImage } from '../image/build.js';
import { imageCacheDir } from '../image/cache.js';
import { listImages, removeImage } from '../image/store.js';
import { removeTemplates } from '../drivers/qemu/template.js';
import { EXIT_USAGE, reportError } from './cli-error.js';
import { ProgressLine, progressMode } from './progress-line.js';

const USAGE = 'usage: ironclaw image build | list [--json] | rm <key>|all\n';

/**
 * `ironclaw image …`: the guest images of the qemu driver, kept in the cache directory.
 * `build` brings the image up to date (asking apt for the current cloud kernel), showing its
 * progress on stderr; a sandbox start does the same on first use, without the apt query.
 */
export async function imageCommand(
  positionals: string[],
  flags: { json?: string | boolean | string[] | undefined },
): Promise<number> {
  const [action, ...rest] = positionals;
  try {
    if (action === 'build' && rest.length === 0) {
      const started = performance.now();
      const progress = new ProgressLine(progressMode(flags.json === true));
      const image = await ensureImage({
        refreshKernel: true,
        progress: (message) => progress.step(`image: ${message}`),
      });
      if (flags.json) process.stdout.write(`${JSON.stringify(image, null, 2)}\n`);
      else
        process.stdout.write(
          `image ${image.key} ready in ${Math.round(performance.now() - started)} ms: ${image.kernel.package} (${image.kernel.format}), ${image.rootfs}\n`,
        );
      return 0;
    }
    if (action === 'list' && rest.length === 0) {
      const images = await listImages();
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ cacheDir: imageCacheDir(), images }, null, 2)}\n`);
        return 0;
      }
      if (images.length === 0) process.stdout.write(`no guest images in ${imageCacheDir()}\n`);
      for (const image of images) {
        process.stdout.write(
          `${image.key}  ${image.createdAt}  ${Math.round(image.bytes / 1024 ** 2)} MiB  ${image.kernel.release} (${image.kernel.format})\n`,
        );
      }
      return 0;
    }
    if (action === 'rm' && rest.length === 1 && rest[0]) {
      for (const key of await removeImage(rest[0])) process.stdout.write(`removed ${key}\n`);
      // Templates are made from images; they are made again on the next qemu sandbox.
      const templates = await removeTemplates();
      if (templates > 0) process.stdout.write(`removed ${templates} VM template(s)\n`);
      return 0;
    }
    process.stderr.write(USAGE);
    return EXIT_USAGE;
  } catch (error) {
    return reportError(error);
  }
}
