import { IronClawError } from '../core/errors.js';
import { DRIVERS, type DriverName } from '../core/isolation.js';
import type { BoxDriver } from './box-process.js';
import { spawnBwrapBox } from './bwrap-box.js';

/**
 * bwrap is loaded with this module: it is the one-shot `ironclaw exec` path, where start-up time
 * is the product. The others load when first used, so their code (and node:crypto, zlib, …)
 * costs nothing to a run that does not use them.
 */
const drivers: Record<DriverName, BoxDriver> = {
  bwrap: spawnBwrapBox,
  gvisor: async (options) => (await import('./gvisor-box.js')).spawnGvisorBox(options),
  qemu: async (options) => (await import('./qemu-box.js')).spawnQemuBox(options),
  firecracker: async (options) =>
    (await import('./firecracker-box.js')).spawnFirecrackerBox(options),
};

/** The driver of that name, or a clear error naming the ones there are. */
export function boxDriver(name: string): BoxDriver {
  if (!(DRIVERS as readonly string[]).includes(name)) {
    throw new IronClawError(
      'DRIVER_UNAVAILABLE',
      `unknown driver ${JSON.stringify(name)}; this version has: ${DRIVERS.join(', ')}`,
    );
  }
  return drivers[name as DriverName];
}

/**
 * Drivers that can run one command as a box's payload (a one-shot run). The others (a VM) run
 * only the guest agent, so their one-shot runs go through a sandbox and an exec.
 */
export function runsCommandPayload(name: DriverName): boolean {
  return name !== 'qemu' && name !== 'firecracker';
}
