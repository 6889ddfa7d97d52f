import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { choosePlatform, runscBinary } from './platform.js';

const TIMED_OUT = { ok: false as const, reason: 'kvm probe timed out after 2000 ms' };

describe('choosePlatform', () => {
  it.each([
    [
      'kvm when its probe box ran',
      ['ptrace', 'kvm', 'systrap'],
      { ok: true as const, ms: 180 },
      'kvm',
    ],
    ['kvm even without systrap', ['ptrace', 'kvm'], { ok: true as const, ms: 180 }, 'kvm'],
    [
      'systrap when kvm timed out and runsc has it',
      ['ptrace', 'kvm', 'systrap'],
      TIMED_OUT,
      'systrap',
    ],
    ['ptrace when kvm timed out and there is no systrap', ['ptrace', 'kvm'], TIMED_OUT, 'ptrace'],
    [
      'ptrace when runsc has only ptrace',
      ['ptrace'],
      { ok: false as const, reason: 'no kvm' },
      'ptrace',
    ],
  ])('%s', (_, listed, kvm, platform) => {
    expect(choosePlatform({ version: '0.0~20221219.0', listed, kvm }).platform).toBe(platform);
  });

  it('says why a faster platform was not taken', () => {
    const { reason } = choosePlatform({
      version: '0.0~20221219.0',
      listed: ['ptrace', 'kvm'],
      kvm: TIMED_OUT,
    });
    expect(reason).toBe(
      'kvm probe timed out after 2000 ms; runsc 0.0~20221219.0 has no systrap platform',
    );
    expect(
      choosePlatform({ version: 'x', listed: ['kvm'], kvm: { ok: true, ms: 180 } }).reason,
    ).toBe('kvm probe box ran in 180 ms');
  });
});

describe('runscBinary', () => {
  it('takes IRONCLAW_RUNSC as given', async () => {
    expect(await runscBinary({ IRONCLAW_RUNSC: '/opt/gvisor/runsc' })).toBe('/opt/gvisor/runsc');
  });

  it('takes the first executable runsc on PATH, before /usr/bin and /usr/sbin', async () => {
    const dirs = await Promise.all([1, 2].map(() => mkdtemp(join(tmpdir(), 'ironclaw-path-'))));
    const [plain = '', executable = ''] = dirs;
    try {
      await writeFile(join(plain, 'runsc'), '', { mode: 0o644 }); // not executable: skipped
      await writeFile(join(executable, 'runsc'), '#!/bin/sh\n', { mode: 0o755 });
      expect(await runscBinary({ PATH: `${plain}:${executable}` })).toBe(join(executable, 'runsc'));
    } finally {
      await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
    }
  });
});
