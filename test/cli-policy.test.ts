import { describe, expect, test } from 'vitest';
import { runCli } from './helpers/cli.js';

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

  test('anything but show is a usage error', async () => {
    expect((await runCli(['policy'])).code).toBe(2);
    expect((await runCli(['policy', 'edit'])).code).toBe(2);
  });
});
