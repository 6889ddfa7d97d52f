import { IronClawError } from '../core/errors.js';
import { DRIVERS, type DriverName } from '../core/isolation.js';
import type { BoxDriver } from './box-process.js';
import { spawnBwrapBox } from './bwrap-box.js';
import { spawnGvisorBox } from './gvisor-box.js';
import { spawnQemuBox } from './qemu-box.js';

const drivers: Record<DriverName, BoxDriver> = {
  bwrap: spawnBwrapBox,
  gvisor: spawnGvisorBox,
  qemu: spawnQemuBox,
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
