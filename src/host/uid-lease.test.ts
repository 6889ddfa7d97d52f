import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deadOwner } from '../../test/support/dead-owner.js';
import { leaseBoxUid, sweepUidLeases } from './uid-lease.js';

const asRoot = process.getuid?.() === 0;

describe('leaseBoxUid', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ironclaw-uids-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('hands out each uid of a range once, and again after release', async () => {
    const range = { first: 0x70000100, count: 3 };
    const leases = await Promise.all([1, 2, 3].map(() => leaseBoxUid(range, { dir })));
    expect(new Set(leases.map((lease) => lease.uid))).toEqual(
      new Set([0x70000100, 0x70000101, 0x70000102]),
    );
    const full = await leaseBoxUid(range, { dir }).catch((error: Error) => error);
    expect(full).toMatchObject({ code: 'SANDBOX_START_FAILED' });
    expect((full as Error).message).toContain('no free box uid in 1879048448..1879048450');
    const [first] = leases;
    await first?.release();
    await first?.release(); // idempotent
    expect((await leaseBoxUid(range, { dir })).uid).toBe(first?.uid);
  });

  it('skips a uid named in passwd or group and one a process runs as', async () => {
    // root (0) is in passwd; nobody's group 65534 is in /etc/group.
    await expect(leaseBoxUid({ first: 0, count: 1 }, { dir })).rejects.toThrow(/no free box uid/);
    await expect(leaseBoxUid({ first: 65534, count: 1 }, { dir })).rejects.toThrow(
      /no free box uid/,
    );
  });

  it.skipIf(!asRoot)(
    `skips a uid that a process without a passwd entry runs as${asRoot ? '' : ' [skipped: needs root to run a process as another uid]'}`,
    async () => {
      const uid = 0x70000200;
      const child = spawn('sleep', ['60'], { uid, gid: uid, stdio: 'ignore' });
      const exited = new Promise((resolve) => child.once('exit', resolve));
      try {
        await new Promise((resolve) => child.once('spawn', resolve));
        // A fresh scan: one made before the process started would not know it.
        await expect(
          leaseBoxUid({ first: uid, count: 1 }, { dir, maxScanAgeMs: 0 }),
        ).rejects.toThrow(/no free box uid/);
      } finally {
        child.kill('SIGKILL');
        await exited;
      }
      // The scan above, still young, saw the process: a range that looks full by it is
      // looked at again with a fresh one, which finds the uid free now.
      const lease = await leaseBoxUid({ first: uid, count: 1 }, { dir });
      expect(lease.uid).toBe(uid);
    },
  );

  it('takes back the lease of an owner that died, never that of a live one', async () => {
    const range = { first: 0x70000300, count: 1 };
    await writeFile(join(dir, String(range.first)), await deadOwner());
    const lease = await leaseBoxUid(range, { dir });
    expect(lease.uid).toBe(range.first);
    const text = await readFile(join(dir, String(range.first)), 'utf8');
    expect(text.startsWith(`${process.pid} `)).toBe(true);
    // Now held by this live process: no one takes it.
    await expect(leaseBoxUid(range, { dir })).rejects.toThrow(/no free box uid/);
    await lease.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it('gives nothing back that another process holds now', async () => {
    const range = { first: 0x70000400, count: 1 };
    const lease = await leaseBoxUid(range, { dir });
    // Someone else's lease file in its place (say, after this one was taken back wrongly).
    await writeFile(join(dir, String(range.first)), '1 1\n');
    await lease.release();
    expect(await readdir(dir)).toEqual([String(range.first)]);
  });
});

describe('sweepUidLeases', () => {
  it('removes the leases of dead owners and keeps a live one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ironclaw-uids-sweep-'));
    try {
      await writeFile(join(dir, '1879048704'), await deadOwner());
      const live = await leaseBoxUid({ first: 0x70000500, count: 1 }, { dir });
      await writeFile(join(dir, 'not-a-lease'), 'x');
      expect(await sweepUidLeases(dir)).toBe(1);
      expect((await readdir(dir)).sort()).toEqual([String(live.uid), 'not-a-lease']);
      await live.release();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
