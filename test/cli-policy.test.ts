import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { REPO, runCli } from './helpers/cli.js';

describe('ironclaw policy show', () => {
  test('prints every rule with its reason and the numbers per architecture', async () => {
    const text = await runCli(['policy', 'show']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /x86_64: \d+ syscalls, \d+ allowed, \d+ denied, \d+ decided by their arguments/,
    );
    expect(text.stdout).toContain('mount, umount2, pivot_root, chroot');
  });

  test('--json numbers add up and agree with the compiled filter boxes load', async () => {
    const json = await runCli(['policy', 'show', '--json']);
    const parsed = JSON.parse(json.stdout) as {
      rules: { reason: string }[];
      arches: {
        arch: string;
        total: number;
        allowed: number;
        denied: number;
        conditional: number;
      }[];
    };
    for (const rule of parsed.rules) expect(rule.reason.length).toBeGreaterThan(20);
    for (const arch of parsed.arches)
      expect(arch.allowed + arch.denied + arch.conditional).toBe(arch.total);
    const box = await runCli(['exec', '--json', '--', 'true']);
    const detail = (
      JSON.parse(box.stdout) as { isolation: { layers: { seccomp: { detail: string } } } }
    ).isolation.layers.seccomp.detail;
    const x86 = parsed.arches.find((arch) => arch.arch === 'x86_64');
    if (process.arch === 'x64')
      expect(detail).toContain(`${x86?.denied} of ${x86?.total} x86_64 syscalls denied`);
  });

  test('shows a VMM profile: an allow-list, how it was derived, numbers from its compiled filter', async () => {
    const text = await runCli(['policy', 'show', 'vmm-qemu']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('seccomp policy "vmm-qemu"');
    expect(text.stdout).toMatch(/derived \d{4}-\d{2}-\d{2} by scripts\/trace-vmm\.mjs/);
    expect(text.stdout).toMatch(/from QEMU emulator version /);
    expect(text.stdout).toMatch(/^default: kill-process/m);
    const json = await runCli(['policy', 'show', 'vmm-qemu', '--json']);
    const parsed = JSON.parse(json.stdout) as {
      derivation: { by: string; from: string; date: string };
      arches: { arch: string; total: number; allowed: number; conditional: number }[];
    };
    const x86 = parsed.arches.find((arch) => arch.arch === 'x86_64');
    // An allow-list: most syscalls are refused, and the numbers are the build's.
    expect(x86!.allowed).toBeGreaterThan(40);
    expect(x86!.allowed).toBeLessThan(x86!.total / 4);
    const built = JSON.parse(
      await readFile(join(REPO, 'dist', 'seccomp', 'vmm-qemu.x86_64.json'), 'utf8'),
    ) as { allowed: number; conditional: number };
    expect([x86!.allowed, x86!.conditional]).toEqual([built.allowed, built.conditional]);
    const firecracker = await runCli(['policy', 'show', 'vmm-firecracker']);
    expect(firecracker.code).toBe(0);
    expect(firecracker.stdout).toMatch(/taken from upstream, not traced/);
  });

  test('anything but show [a policy name] is a usage error', async () => {
    expect((await runCli(['policy'])).code).toBe(2);
    expect((await runCli(['policy', 'edit'])).code).toBe(2);
    const unknown = await runCli(['policy', 'show', 'vmm-nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('sandbox|vmm-qemu|vmm-firecracker');
  });
});
