import { describe, expect, test } from 'vitest';
import { configFlags, parseDriverFlag, parsePoolFlag } from './config-flags.js';

describe('config flags', () => {
  test('--driver takes a driver of this version, and names them when it is not one', () => {
    expect(parseDriverFlag('gvisor')).toBe('gvisor');
    expect(() => parseDriverFlag('docker')).toThrow(
      'invalid --driver "docker": use one of bwrap, gvisor, qemu, firecracker',
    );
  });

  test('--pool takes a whole number from 0 to 64', () => {
    expect(parsePoolFlag('0')).toBe(0);
    expect(parsePoolFlag('64')).toBe(64);
    for (const bad of ['-1', '65', '1.5', 'two', '', ' 3', '0x10', '1e1'])
      expect(() => parsePoolFlag(bad)).toThrow(
        `invalid --pool ${JSON.stringify(bad)}: use 0 to 64`,
      );
  });

  test('only the flags given become config', () => {
    expect(configFlags({})).toEqual({});
    expect(configFlags({ driver: 'qemu', pool: '3' })).toEqual({
      driver: 'qemu',
      pool: { size: 3 },
    });
  });
});
