import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { choosePlatform, type PlatformFacts, runscBinary } from './platform.js';

const NO_KVM = { ok: false as const, reason: 'no usable /dev/kvm' };
const ran = (ms: number) => ({ ok: true as const, ms });
const failed = { ok: false as const, reason: 'probe box failed (exit code 1): no output' };
const facts = (rest: Omit<PlatformFacts, 'version'>): PlatformFacts => ({
  version: '0.0~20240729.0',
  ...rest,
});

describe('choosePlatform', () => {
  it.each<[string, Omit<PlatformFacts, 'version'>, string]>([
    ['kvm when its probe box ran', { kvm: ran(180), ptrace: ran(90), systrap: ran(50) }, 'kvm'],
    ['systrap when it was faster', { kvm: NO_KVM, ptrace: ran(900), systrap: ran(600) }, 'systrap'],
    ['ptrace when it was faster', { kvm: NO_KVM, ptrace: ran(600), systrap: ran(900) }, 'ptrace'],
    ['systrap when ptrace failed', { kvm: NO_KVM, ptrace: failed, systrap: ran(900) }, 'systrap'],
    ['ptrace when systrap failed', { kvm: NO_KVM, ptrace: ran(900), systrap: failed }, 'ptrace'],
    ['ptrace when runsc has no systrap', { kvm: NO_KVM, ptrace: ran(900) }, 'ptrace'],
    ['ptrace when nothing ran', { kvm: NO_KVM, ptrace: failed, systrap: failed }, 'ptrace'],
  ])('%s', (_, rest, platform) => {
    expect(choosePlatform(facts(rest)).platform).toBe(platform);
  });

  it('says what each platform measured and why kvm was not taken', () => {
    expect(choosePlatform(facts({ kvm: NO_KVM, ptrace: ran(900), systrap: ran(600) })).reason).toBe(
      'kvm: no usable /dev/kvm; systrap probe 600 ms, ptrace probe 900 ms',
    );
    expect(choosePlatform(facts({ kvm: NO_KVM, ptrace: ran(900) })).reason).toBe(
      'kvm: no usable /dev/kvm; runsc 0.0~20240729.0 has no systrap platform, ptrace probe 900 ms',
    );
    expect(choosePlatform(facts({ kvm: ran(180), ptrace: failed })).reason).toBe(
      'kvm probe box ran in 180 ms',
    );
  });
});

describe('runscBinary', () => {
  it('takes IRONCLAW_RUNSC as given', async () => {
    expect(await runscBinary({ IRONCLAW_RUNSC: '/opt/gvisor/runsc' })).toBe('/opt/gvisor/runsc');
  });

  it("prefers IronClaw's own runsc, else the first executable runsc on PATH", async () => {
    const dirs = await Promise.all([1, 2, 3].map(() => mkdtemp(join(tmpdir(), 'ironclaw-path-'))));
    const [plain = '', executable = '', own = ''] = dirs;
    try {
      await writeFile(join(plain, 'runsc'), '', { mode: 0o644 }); // not executable: skipped
      await writeFile(join(executable, 'runsc'), '#!/bin/sh\n', { mode: 0o755 });
      const path = { PATH: `${plain}:${executable}` };
      expect(await runscBinary(path, join(own, 'runsc'))).toBe(join(executable, 'runsc'));
      await writeFile(join(own, 'runsc'), '#!/bin/sh\n', { mode: 0o755 });
      expect(await runscBinary(path, join(own, 'runsc'))).toBe(join(own, 'runsc'));
    } finally {
      await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
    }
  });
});
