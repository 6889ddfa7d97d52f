// The product's one audit path, with real boxes and a real store (test/setup.ts gives this
// worker a store of its own): actions are recorded as requested before they run and settled
// with their outcome. A store that cannot be written never stops a sandbox and is said once on
// stderr, but it refuses a workspace apply: no audit, no apply.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { audit, keepAuditTrimmed } from '../src/audit/audit-trail.js';
import { AuditStore } from '../src/audit/audit-store.js';
import { createSandbox } from '../src/index.js';
import { auditRecords, summary } from './support/audit-records.js';
import { expectCode } from './support/expect-code.js';
import { makeTree, snapshotTree } from './support/host-tree.js';

let root: string;
/** A path no store can be opened at, even by root: its "directory" is a regular file. */
let unwritable: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ironclaw-audit-trail-'));
  await writeFile(join(root, 'a-file'), '');
  unwritable = join(root, 'a-file', 'audit.db');
});

afterAll(() => rm(root, { recursive: true, force: true }));

/** Runs `body` with this process's audit store at `path`, and what it wrote on stderr. */
async function withStore<T>(path: string, body: () => Promise<T>): Promise<[T, string]> {
  const saved = process.env.IRONCLAW_AUDIT_DB;
  const write = process.stderr.write.bind(process.stderr);
  let stderr = '';
  process.stderr.write = (chunk: string | Uint8Array, ...rest: never[]) => {
    stderr += chunk.toString();
    return write(chunk, ...rest);
  };
  process.env.IRONCLAW_AUDIT_DB = path;
  try {
    return [await body(), stderr];
  } finally {
    process.env.IRONCLAW_AUDIT_DB = saved;
    process.stderr.write = write;
  }
}

describe('the audit trail', () => {
  // First in this file: the warning is said once per process.
  test('a store that cannot be opened stops no sandbox, and is said once on stderr', async () => {
    const [output, stderr] = await withStore(unwritable, async () => {
      const box = await createSandbox();
      const first = await box.exec(['echo', 'still running']);
      const second = await box.exec(['true']);
      await box.destroy();
      return [first.stdout.toString(), second.exitCode];
    });
    expect(output).toEqual(['still running\n', 0]);
    const warnings = stderr.split('\n').filter((line) => line.includes('audit records are'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(unwritable);
  });

  test('a sandbox create is requested first and settled done, or failed with why', async () => {
    const dir = join(root, 'created');
    await makeTree(dir, { 'a.txt': 'a\n' });
    const box = await createSandbox({ workspace: dir });
    await box.destroy();
    const records = await auditRecords(undefined, { sandbox: box.id });
    expect(summary(records, 'driver')).toEqual([
      ['sandbox-create requested', undefined],
      ['workspace-copied-in info', undefined],
      ['sandbox-create done', 'bwrap'],
      ['sandbox-destroyed info', 'bwrap'],
    ]);
    expect(records[0]?.data).toMatchObject({ workspace: dir });
    expect(records[2]?.ref).toBe(records[0]?.seq);

    const id = `no-such-driver-${process.pid}`;
    await expect(
      createSandbox({ id, driver: 'firecracker', limits: { memoryBytes: 1 } }),
    ).rejects.toThrow();
    const failed = await auditRecords(undefined, { sandbox: id });
    expect(summary(failed, 'driver')).toEqual([
      ['sandbox-create requested', 'firecracker'],
      ['sandbox-create failed', undefined],
    ]);
    expect(failed[1]?.data.error).toEqual(expect.any(String));
  });

  test('no audit, no apply: with the store unwritable the apply is refused and the host untouched', async () => {
    const dir = join(root, 'project');
    await makeTree(dir, { 'notes.txt': 'host\n' });
    const box = await createSandbox({ workspace: dir });
    try {
      await box.exec(['sh', '-c', 'echo box > /workspace/notes.txt']);
      const diff = await box.workspaceDiff();
      const before = await snapshotTree(dir);
      await withStore(unwritable, () =>
        expectCode(() => box.workspaceApply(diff, { confirmed: true }), 'AUDIT_UNAVAILABLE'),
      );
      expect(await snapshotTree(dir)).toEqual(before);

      // Negative control: the same apply with the store writable goes through, recorded.
      const report = await box.workspaceApply(diff, { confirmed: true });
      expect(report.applied).toEqual([{ path: 'notes.txt', kind: 'modified' }]);
      expect(await snapshotTree(dir)).not.toEqual(before);
      const applies = (await auditRecords(undefined, { sandbox: box.id })).filter(
        (record) => record.kind === 'workspace-apply',
      );
      expect(summary(applies, 'digest', 'applied')).toEqual([
        ['workspace-apply requested', diff.digest, undefined],
        ['workspace-apply done', undefined, 1],
      ]);

      // A refusal is settled "denied", with its code.
      const unconfirmed = await box.workspaceDiff();
      await expectCode(
        () => box.workspaceApply(unconfirmed, { confirmed: false }),
        'NOT_CONFIRMED',
      );
      const last = (await auditRecords(undefined, { sandbox: box.id })).at(-1);
      expect(last).toMatchObject({ kind: 'workspace-apply', status: 'denied' });
      expect(last?.data.code).toBe('NOT_CONFIRMED');
    } finally {
      await box.destroy();
    }
  });

  test('a long-lived writer trims the store now and then, and the chain still verifies', async () => {
    const path = join(root, 'trimmed.db');
    const stop = new AbortController();
    await withStore(path, async () => {
      for (let i = 0; i < 200; i += 1) audit({ kind: 'egress', data: { i, pad: 'x'.repeat(100) } });
      keepAuditTrimmed({ maxBytes: 20_000 }, { signal: stop.signal });
      return Promise.resolve();
    });
    stop.abort();
    using store = await AuditStore.open(path);
    const left = store.query();
    expect(left.length).toBeGreaterThan(20);
    expect(left.length).toBeLessThan(100);
    expect(left.at(-1)?.data.i).toBe(199);
    expect(store.verify()).toMatchObject({ ok: true, records: left.length });
  });
});
