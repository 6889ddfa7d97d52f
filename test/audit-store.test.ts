// The audit store on a real SQLite file: records chain, checkpoints seal, and verify finds an
// edited, deleted, reordered or cut record; two processes append at once and lose nothing; a
// process killed between request and outcome leaves an incomplete record; a full disk is said as
// one.
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AuditStore } from '../src/audit/audit-store.js';

let dir: string;
let writerScript: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ironclaw-audit-store-'));
  // A writer process of its own: the store, bundled, appends N records or dies mid-request.
  const entry = join(dir, 'writer.ts');
  await writeFile(
    entry,
    `import { AuditStore } from ${JSON.stringify(join(import.meta.dirname, '../src/audit/audit-store.ts'))};
const [path, mode, count] = process.argv.slice(2);
const store = await AuditStore.open(path);
if (mode === 'crash') {
  store.request({ kind: 'workspace-apply', sandbox: 'crashed', data: { files: 3 } });
  process.kill(process.pid, 'SIGKILL');
}
if (mode === 'fill') {
  let written = 0;
  let message = '';
  try {
    for (;;) {
      store.append({ kind: 'test', data: { pad: 'x'.repeat(4000) } });
      written += 1;
    }
  } catch (error) {
    message = error.message;
  }
  console.log(JSON.stringify({ written, message, kept: store.query().length, verify: store.verify().ok }));
  process.exit(0);
}
for (let i = 0; i < Number(count); i += 1) store.append({ kind: 'test', data: { writer: process.pid, i } });
store.close();
`,
  );
  writerScript = join(dir, 'writer.mjs');
  await build({
    entryPoints: [entry],
    outfile: writerScript,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    logLevel: 'warning',
  });
});

afterAll(() => rm(dir, { recursive: true, force: true }));

function runWriter(path: string, mode: string, count = 0): Promise<string | number | null> {
  const child = spawn(process.execPath, [writerScript, path, mode, String(count)], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
}

/** Whether this user can mount a tmpfs of its own (a private user and mount namespace). */
const canMountTmpfs =
  spawnSync('unshare', ['-rm', 'mount', '-t', 'tmpfs', 'tmpfs', tmpdir()]).status === 0;

async function storeWith(
  name: string,
  count: number,
): Promise<{ path: string; store: AuditStore }> {
  const path = join(dir, `${name}.db`);
  const store = await AuditStore.open(path);
  for (let i = 0; i < count; i += 1)
    store.append({ kind: 'test', sandbox: `s${i % 3}`, data: { i } });
  return { path, store };
}

/** Runs SQL on the file behind the store's back, as someone editing it would. */
function tamper(path: string, sql: string): void {
  const db = new DatabaseSync(path);
  db.exec(sql);
  db.close();
}

describe('the audit store', () => {
  test('records a request and its outcome, and answers queries', async () => {
    const { store } = await storeWith('basic', 5);
    const action = store.request({ kind: 'workspace-apply', sandbox: 'box1', data: { files: 2 } });
    const outcome = action.settle('done', { applied: 2 });
    expect(action.settle('failed')).toBe(outcome); // settled once
    expect(outcome).toMatchObject({ status: 'done', ref: action.record.seq, sandbox: 'box1' });
    expect(store.query({ sandbox: 'box1' }).map((r) => r.status)).toEqual(['requested', 'done']);
    expect(store.query({ afterSeq: 5 }).map((r) => r.seq)).toEqual([6, 7]);
    expect(store.query({ sandbox: 's0', limit: 1 })).toHaveLength(1);
    expect(await store.incomplete()).toEqual([]);
    expect(store.verify()).toMatchObject({ ok: true, records: 7, first: 1, last: 7 });
    store.close();
    store.close(); // idempotent
  });

  test('verify finds an edited, deleted, reordered or cut record, and a forged checkpoint', async () => {
    const cases: [string, (path: string) => void, RegExp][] = [
      [
        'edit',
        (p) => tamper(p, `UPDATE events SET data = '{"i":999}' WHERE seq = 50`),
        /record 50 was edited/,
      ],
      [
        'delete',
        (p) => tamper(p, 'DELETE FROM events WHERE seq = 120'),
        /records 120\.\.120 are missing/,
      ],
      [
        'reorder',
        (p) =>
          tamper(
            p,
            `UPDATE events SET seq = -1 WHERE seq = 10; UPDATE events SET seq = 10 WHERE seq = 11; UPDATE events SET seq = 11 WHERE seq = -1;`,
          ),
        /record 10 does not follow/,
      ],
      [
        'cut',
        (p) => tamper(p, 'DELETE FROM events WHERE seq > 180'),
        /checkpoint 250 is past the last record \(180\)/,
      ],
      [
        'forge',
        (p) => tamper(p, "UPDATE checkpoints SET hash = 'ab' WHERE seq = 100"),
        /checkpoint 100 has a seal that does not match/,
      ],
    ];
    for (const [name, attack, finding] of cases) {
      const { path, store } = await storeWith(`tamper-${name}`, 250);
      store.close();
      const before = await AuditStore.open(path);
      expect(before.verify(), name).toMatchObject({ ok: true, checkpoints: 3 });
      before.close();
      attack(path);
      const after = await AuditStore.open(path);
      const report = after.verify();
      after.close();
      expect(report.ok, name).toBe(false);
      expect(report.problems.join('\n'), name).toMatch(finding);
    }
  });

  test('keeps the chain verifiable through retention, and only the newest records', async () => {
    const { store } = await storeWith('retain', 300);
    expect(store.retain({ maxRecords: 120 })).toBe(180);
    expect(store.verify()).toMatchObject({ ok: true, records: 120, first: 181, last: 300 });
    store.append({ kind: 'after' });
    expect(store.retain({ maxAgeMs: 60_000 })).toBe(0);
    expect(store.verify()).toMatchObject({ ok: true, last: 301 });
    store.close();
  });

  test('keeps at most 10,000 records in memory', async () => {
    const { store } = await storeWith('ring', 10_050);
    const recent = store.recent();
    expect(recent).toHaveLength(10_000);
    expect(recent[0]?.seq).toBe(51);
    store.close();
  }, 60_000);

  test('two processes appending 10,000 records each lose none, and the chain verifies', async () => {
    const path = join(dir, 'two-writers.db');
    expect(
      await Promise.all([runWriter(path, 'append', 10_000), runWriter(path, 'append', 10_000)]),
    ).toEqual([0, 0]);
    const store = await AuditStore.open(path);
    const records = store.query();
    expect(records).toHaveLength(20_000);
    const writers = new Map<unknown, number[]>();
    for (const { data } of records)
      writers.set(data.writer, [...(writers.get(data.writer) ?? []), Number(data.i)]);
    expect([...writers.values()].map((is) => is.length)).toEqual([10_000, 10_000]);
    for (const is of writers.values()) expect(is).toEqual([...is].sort((a, b) => a - b));
    expect(store.verify()).toMatchObject({ ok: true, records: 20_000 });
    store.close();
  }, 120_000);

  test.skipIf(!canMountTmpfs)(
    'a full disk is reported as a full disk, and what was written still verifies (needs: unshare -rm)',
    async () => {
      // A 512 KiB tmpfs in a private mount namespace: SQLite ends the transaction itself when
      // the disk fills, and the error must say so rather than fail again on the ROLLBACK.
      const small = join(dir, 'small');
      await mkdir(small);
      const child = spawn(
        'unshare',
        [
          '-rm',
          'sh',
          '-c',
          'mount -t tmpfs -o size=512k tmpfs "$1" && exec "$2" "$3" "$1/full.db" fill',
          'sh',
          small,
          process.execPath,
          writerScript,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
      expect(await new Promise((resolve) => child.once('exit', resolve))).toBe(0);
      const report = JSON.parse(out) as {
        written: number;
        message: string;
        kept: number;
        verify: boolean;
      };
      expect(report.message).toMatch(/disk is full/);
      expect(report.message).not.toMatch(/rollback/);
      expect(report.written).toBeGreaterThan(0);
      expect(report).toMatchObject({ kept: report.written, verify: true });
    },
  );

  test('a process killed between request and outcome leaves an incomplete record', async () => {
    const path = join(dir, 'crash.db');
    expect(await runWriter(path, 'crash')).toBe('SIGKILL');
    const store = await AuditStore.open(path);
    // This process's own open request is not incomplete: its writer is alive.
    store.request({ kind: 'workspace-apply', sandbox: 'alive' });
    const incomplete = await store.incomplete();
    expect(incomplete.map((r) => [r.kind, r.sandbox, r.status])).toEqual([
      ['workspace-apply', 'crashed', 'requested'],
    ]);
    expect(store.verify().ok).toBe(true);
    store.close();
  });
});
