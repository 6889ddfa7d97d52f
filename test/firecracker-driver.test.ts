// The firecracker driver as the rest of IronClaw sees it, on any machine: registered, run through
// a sandbox (a VM runs only the agent), failing closed with the reason where the host cannot run
// it, and the pure parts of a box (its kernel command line, its arguments, its isolation report).
import { describe, expect, test } from 'vitest';
import { DRIVERS } from '../src/core/isolation.js';
import { resolveLimits } from '../src/core/limits.js';
import { driverNamed } from '../src/drivers/index.js';
import {
  AGENT_VSOCK_PORT,
  firecrackerArgs,
  firecrackerCmdline,
} from '../src/drivers/firecracker/config.js';
import { firecrackerIsolation } from '../src/drivers/firecracker/isolation.js';
import { firecrackerUnavailable } from '../src/drivers/firecracker/tools.js';
import { createSandbox, runOnce } from '../src/index.js';
import { expectCode } from './support/expect-code.js';

const unavailable = await firecrackerUnavailable();

describe('the firecracker driver', () => {
  test('is registered, and runs commands through a sandbox (a VM runs only the agent)', () => {
    expect(DRIVERS).toContain('firecracker');
    expect(driverNamed('firecracker').capabilities.commandPayload).toBe(false);
  });

  test.skipIf(unavailable === undefined)(
    `fails closed where the host cannot run it, saying why${unavailable === undefined ? ' [skipped: this host can run it]' : ''}`,
    async () => {
      const error = await expectCode(
        () => createSandbox({ driver: 'firecracker' }),
        'DRIVER_UNAVAILABLE',
      );
      expect(error.message).toBe(unavailable);
      const once = await expectCode(
        () => runOnce(['true'], { driver: 'firecracker', stdio: 'pipe' }),
        'DRIVER_UNAVAILABLE',
      );
      expect(once.message).toBe(unavailable);
    },
  );

  test('the guest kernel ends the VM by a reset and reaches the agent over vsock', () => {
    const words = firecrackerCmdline(
      resolveLimits({ memoryBytes: 512 * 1024 ** 2, pids: 99 }),
    ).split(' ');
    expect(words).toEqual(
      expect.arrayContaining([
        'reboot=k',
        'panic=1',
        'ironclaw.halt=reboot',
        `ironclaw.vsock=${AGENT_VSOCK_PORT}`,
      ]),
    );
    expect(words).toEqual(
      expect.arrayContaining([
        'console=ttyS0',
        'ironclaw.pids=99',
        `ironclaw.memory=${512 * 1024 ** 2}`,
      ]),
    );
    // QEMU's ways of ending a VM would leave a halted Firecracker running.
    expect(words.filter((word) => /^(reboot|panic)=/.test(word))).toEqual(['reboot=k', 'panic=1']);
    expect(AGENT_VSOCK_PORT).toBeGreaterThanOrEqual(1024); // uid 1000 may bind it
  });

  test('Firecracker gets its API socket, and our filter only when there is one', () => {
    expect(firecrackerArgs({ seccompFilter: false })).toEqual(['--api-sock', '/api.sock']);
    expect(firecrackerArgs({ seccompFilter: true })).toEqual([
      '--api-sock',
      '/api.sock',
      '--seccomp-filter',
      '/seccomp.bpf',
    ]);
  });

  test('the isolation report says what holds the guest kernel, and the filter per layer', () => {
    const facts = {
      limits: resolveLimits(),
      image: {
        key: 'k',
        createdAt: '',
        kernel: {
          path: '/v',
          format: 'pvh' as const,
          detail: 'd',
          release: '6.1.0-56-cloud-amd64',
          package: 'p',
        },
        initramfs: '/i',
        rootfs: '/r',
      },
      memoryMiB: 256,
      hostUid: 65534,
      vmmSeccomp: "Firecracker's built-in seccomp filters",
      vmmCgroup: 'cgroup v2 ironclaw-firecracker/x (memory 1 bytes, pids 64)',
      version: 'Firecracker v1.16.1',
      guestFilter: 'policy "sandbox": 1 of 2 x86_64 syscalls denied',
    };
    const report = firecrackerIsolation(facts);
    expect(report.driver).toBe('firecracker');
    expect(report.layers.kernel).toMatchObject({ on: true });
    expect(report.layers.kernel?.detail).toMatch(
      /\bKVM\b.*jailer.*host uid 65534.*built-in seccomp/,
    );
    expect(report.layers.seccomp).toMatchObject({ on: true });
    expect(report.layers.seccomp.detail).toMatch(
      /^host VMM: Firecracker's built-in.*; guest workload: .*policy "sandbox".*before its exec/,
    );
    const off = firecrackerIsolation({ ...facts, guestFilter: undefined }).layers.seccomp;
    expect(off).toMatchObject({ on: false });
    expect(off.detail).toContain('guest workload: ');
    expect(off.detail).toContain('turned off by the caller');
    for (const layer of ['namespaces', 'filesystem', 'network', 'rlimits', 'cgroup'] as const)
      expect(report.layers[layer].on, layer).toBe(true);
  });
});
