import { beforeEach, describe, expect, test } from 'vitest';
import { createSandbox, runOnce } from '../src/index.js';
import type { AuditRecord } from '../src/audit/audit-store.js';
import { parseKmsgSeccomp } from '../src/core/seccomp/kmsg-record.js';
import { auditRecords, summary } from './support/audit-records.js';

// The audit store records sandboxes and the calls their syscall filter stopped (issue: seccomp,
// visibility). The attack: an x32 system call, which the sandbox policy kills (the x32 ABI is
// blocked outright). As root the record also carries the kernel's own account of it.

/** An x32 getpid: number 39 with the x32 bit, made through libc's syscall(). */
const X32_CALL = ['python3', '-c', 'import ctypes; ctypes.CDLL(None).syscall(0x40000000 | 39)'];

/** The last record before each test: each test reads only the records written after it. */
let mark = 0;
beforeEach(async () => {
  mark = (await auditRecords()).at(-1)?.seq ?? 0;
});

function records(): Promise<AuditRecord[]> {
  return auditRecords(undefined, { afterSeq: mark });
}

describe('seccomp kills in the audit store', () => {
  test('parses the kernel seccomp records it attaches, and nothing else', () => {
    const record = parseKmsgSeccomp(
      '5,5012,35518219045,-;audit: type=1326 audit(1763870000.123:77): auid=4294967295 uid=65534 gid=65534 ses=4294967295 subj=unconfined pid=4242 comm="python3" exe="/usr/bin/python3.11" sig=31 arch=c000003e syscall=1073741863 compat=0 ip=0x7f0000 code=0x80000000',
    );
    expect(record).toEqual({
      monotonicUs: 35518219045,
      pid: 4242,
      uid: 65534,
      comm: 'python3',
      arch: 'x32',
      syscall: 0x40000027,
      action: 'kill-process',
      signal: 31,
    });
    expect(
      parseKmsgSeccomp(
        '5,1,2,-;audit: type=1326 audit(1.2:3): uid=0 pid=1 comm="sh" sig=0 arch=c000003e syscall=165 code=0x7ffc0000',
      ),
    ).toMatchObject({ name: 'mount', action: 'log', arch: 'x86_64' });
    expect(parseKmsgSeccomp('6,2,3,-;eth0: link up')).toBeUndefined();
    expect(parseKmsgSeccomp('garbage type=1326')).toBeUndefined();
  });

  test('a call the filter kills is recorded with the sandbox, the command and the kernel record', async () => {
    const sandbox = await createSandbox();
    const result = await sandbox.exec(X32_CALL);
    await sandbox.destroy();
    expect(result.signal).toBe('SIGSYS');
    const log = await auditRecords(undefined, { sandbox: sandbox.id });
    expect(summary(log)).toEqual([
      ['sandbox-create requested'],
      ['sandbox-create done'],
      ['seccomp-violation info'],
      ['sandbox-destroyed info'],
    ]);
    const violation = log[2]?.data ?? {};
    expect(violation).toMatchObject({
      driver: 'bwrap',
      argv: X32_CALL,
      ended: 'killed by SIGSYS',
    });
    if (process.getuid?.() === 0) {
      expect(violation.kernel).toEqual([
        expect.objectContaining({
          uid: sandbox.isolation.hostUid,
          arch: 'x32',
          syscall: 0x40000027,
          action: 'kill-process',
          signal: 31,
        }),
      ]);
    } else {
      expect(violation.kernel).toMatch(/cannot be read here/);
    }
  });

  test('a supervised one-shot run records it too', async () => {
    const result = await runOnce(X32_CALL, { stdio: 'pipe' });
    expect(result.exitCode).toBe(159);
    // The one-shot box's id is its own: found by what it ran, among the records since the test began.
    const violation = (await records()).find(
      (entry) =>
        entry.kind === 'seccomp-violation' &&
        JSON.stringify(entry.data.argv) === JSON.stringify(X32_CALL),
    );
    expect(violation?.data).toMatchObject({
      driver: 'bwrap',
      argv: X32_CALL,
      ended: expect.stringMatching(/^exit status 159/) as unknown,
    });
  });

  test('negative control: with the filter off, the same call is not stopped and nothing is recorded', async () => {
    const sandbox = await createSandbox({ seccomp: 'none' });
    const result = await sandbox.exec(X32_CALL);
    await sandbox.destroy();
    expect(result.signal).toBeNull();
    const log = await auditRecords(undefined, { sandbox: sandbox.id });
    expect(summary(log)).toEqual([
      ['sandbox-create requested'],
      ['sandbox-create done'],
      ['sandbox-destroyed info'],
    ]);
  });
});
