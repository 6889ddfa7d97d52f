import { describe, expect, test } from 'vitest';
import { IronClawError } from '../core/errors.js';
import { DRIVERS } from '../core/isolation.js';
import { assertDriverCan, type Driver } from '../host/driver.js';
import { DEFAULT_DRIVER, DRIVER_LIST, driverFor, driverNamed } from './index.js';

describe('the driver list', () => {
  test('has every driver name once, the default first', () => {
    expect(DRIVER_LIST.map((driver) => driver.name)).toEqual([...DRIVERS]);
    expect(DRIVER_LIST[0]).toBe(DEFAULT_DRIVER);
    expect(driverNamed(undefined)).toBe(DEFAULT_DRIVER);
  });

  test('refuses an unknown name, naming the ones there are', () => {
    expect(() => driverNamed('docker')).toThrow(/unknown driver "docker"; this version has: bwrap/);
  });

  test('fails closed on an option a driver cannot enforce, naming the capability', () => {
    const mounts = [{ host: '/etc', guest: '/mnt', readOnly: true }];
    for (const driver of DRIVER_LIST) {
      const asked = [
        [driver.capabilities.hostMounts, { mounts }, 'hostMounts'],
        [driver.capabilities.extraEnv, { env: { A: '1' } }, 'extraEnv'],
        [driver.capabilities.templates, { template: true }, 'templates'],
      ] as const;
      for (const [able, request, capability] of asked) {
        if (able) {
          expect(driverFor(driver.name, request)).toBe(driver);
          continue;
        }
        let caught: unknown;
        try {
          driverFor(driver.name, request);
        } catch (error) {
          caught = error;
        }
        expect(caught).toBeInstanceOf(IronClawError);
        expect((caught as IronClawError).code).toBe('POLICY_UNENFORCEABLE');
        expect((caught as IronClawError).message).toContain(`capability ${capability}`);
      }
      // Every driver has a way to its egress proxy that gives the box no route of its own.
      expect(['socket', 'channel']).toContain(driver.capabilities.egress);
      expect(driverFor(driver.name, { egress: true })).toBe(driver);
      // Asking for nothing (an empty env, no mounts, a cold boot) needs no capability.
      expect(driverFor(driver.name, { mounts: [], env: {}, template: false })).toBe(driver);
    }
  });

  test('a driver without egress refuses it, naming itself and the drivers that have it', () => {
    const closed: Driver = {
      ...DEFAULT_DRIVER,
      name: 'qemu',
      capabilities: { ...DEFAULT_DRIVER.capabilities, egress: false },
    };
    expect(() => assertDriverCan(closed, { egress: true }, DRIVER_LIST)).toThrow(
      /^the qemu driver cannot enforce network egress .*capability egress.*drivers that can: bwrap, gvisor, qemu, firecracker$/,
    );
    expect(() => assertDriverCan(closed, { egress: false }, DRIVER_LIST)).not.toThrow();
  });
});
