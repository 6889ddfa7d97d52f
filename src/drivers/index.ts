/*
 * The drivers, one folder each, and the list the layers above choose from. A driver starts a box
 * with the guest agent (or one command) as its first process and hands over a byte stream to it;
 * it declares what it can do (host/driver.ts), and code above asks those capabilities, never a
 * name. Drivers import core/, protocol/, host/ and image/, never each other.
 *
 * bwrap is loaded with this module: it is the one-shot `ironclaw exec` path, where start-up time
 * is the product. The others load their code when first used.
 */
import { IronClawError } from '../core/errors.js';
import { DRIVERS } from '../core/isolation.js';
import { assertDriverCan, type CapabilityRequest, type Driver } from '../host/driver.js';
import { bwrapDriver } from './bwrap/index.js';
import { firecrackerDriver } from './firecracker/index.js';
import { gvisorDriver } from './gvisor/index.js';
import { qemuDriver } from './qemu/index.js';

/** Every driver of this version, the default first. */
export const DRIVER_LIST: readonly Driver[] = [
  bwrapDriver,
  gvisorDriver,
  qemuDriver,
  firecrackerDriver,
];

/** The driver used when none is named. */
export const DEFAULT_DRIVER: Driver = bwrapDriver;

/** The driver of that name, or a clear error naming the ones there are. */
export function driverNamed(name: string | undefined): Driver {
  if (name === undefined) return DEFAULT_DRIVER;
  const driver = DRIVER_LIST.find((candidate) => candidate.name === name);
  if (!driver) {
    throw new IronClawError(
      'DRIVER_UNAVAILABLE',
      `unknown driver ${JSON.stringify(name)}; this version has: ${DRIVERS.join(', ')}`,
    );
  }
  return driver;
}

/** The driver of that name, checked able to enforce everything the request asks for. */
export function driverFor(name: string | undefined, request: CapabilityRequest = {}): Driver {
  const driver = driverNamed(name);
  assertDriverCan(driver, request, DRIVER_LIST);
  return driver;
}
