import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ensureImage } from '../../src/image/build.js';
import { qemuBinary } from '../../src/drivers/qemu/launch.js';

/**
 * Why QEMU VMs cannot run here (no QEMU, or a guest image that cannot be built), or undefined
 * when they can; the image is built (or found in the cache) on the way.
 */
export function qemuMissing(progress?: (message: string) => void): Promise<string | undefined> {
  return promisify(execFile)(qemuBinary(), ['--version']).then(
    () =>
      ensureImage(progress ? { progress } : {}).then(
        () => undefined,
        (error: Error) => `the guest image cannot be built here: ${error.message}`,
      ),
    () => `${qemuBinary()} is not installed (apt-get install qemu-system-x86)`,
  );
}
