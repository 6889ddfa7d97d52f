// `ironclaw audit` as a user runs it, on a store written by the library: listing with filters,
// --follow printing a record written after it started, and verify failing on an edited file.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { AuditStore } from '../src/audit/audit-store.js';
import { BIN, runCli } from './helpers/cli.js';

let dir: string;
let db: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ironclaw-cli-audit-'));
  db = join(dir, 'audit.db');
  env = { IRONCLAW_AUDIT_DB: db };
  const store = await AuditStore.open(db);
  store.append({ kind: 'sandbox-created', sandbox: 'one', data: { driver: 'bwrap' } });
  store.append({ kind: 'sandbox-created', sandbox: 'two', data: { driver: 'gvisor' } });
  store.request({ kind: 'workspace-apply', sandbox: 'one' }).settle('denied', { by: 'user' });
  store.close();
});

afterAll(() => rm(dir, { recursive: true, force: true }));

test('lists records, filtered by sandbox, as text or JSON', async () => {
  const all = await runCli(['audit'], { env });
  expect(all.code).toBe(0);
  expect(all.stdout.trim().split('\n')).toHaveLength(4);
  expect(all.stdout).toContain('workspace-apply denied (of 3) sandbox=one');
  const one = await runCli(['audit', '--json', '--sandbox', 'one', '--since', '1h'], { env });
  const records = one.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { seq: number });
  expect(records.map((record) => record.seq)).toEqual([1, 3, 4]);
  const bad = await runCli(['audit', '--since', 'yesterday-ish'], { env });
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain('--since yesterday-ish');
});

test('--follow prints a record written after it started', async () => {
  const child = spawn(process.execPath, [BIN, 'audit', '--follow', '--sandbox', 'late'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const seen = new Promise<string>((resolve) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('\n')) resolve(out);
      });
    });
    const store = await AuditStore.open(db);
    store.append({ kind: 'sandbox-created', sandbox: 'late' });
    store.close();
    expect(await seen).toMatch(/sandbox-created info sandbox=late/);
  } finally {
    child.kill('SIGTERM');
  }
});

test('verify passes on the intact store and fails, saying what, on an edited one', async () => {
  const intact = await runCli(['audit', 'verify'], { env });
  expect(intact.code).toBe(0);
  expect(intact.stdout).toMatch(/audit store intact: \d+ records/);
  const file = new DatabaseSync(db);
  file.exec(`UPDATE events SET data = '{"by":"someone else"}' WHERE seq = 4`);
  file.close();
  const edited = await runCli(['audit', 'verify'], { env });
  expect(edited.code).toBe(1);
  expect(edited.stdout).toContain('record 4 was edited');
});

test('shows the product events readably: decision, host:port, tool, reason', async () => {
  const path = join(dir, 'events.db');
  const store = await AuditStore.open(path);
  store.append({
    kind: 'egress',
    sandbox: 'work',
    data: {
      protocol: 'connect',
      host: 'example.org',
      port: 443,
      decision: 'denied',
      reason: 'example.org:443 is not on the allow-list',
      bytesUp: 0,
      bytesDown: 0,
    },
  });
  store
    .request({ kind: 'tool-call', sandbox: 'wrap', data: { tool: 'delete_repo', server: ['gh'] } })
    .settle('denied', { decision: 'denied', reason: 'the wrap policy denies tool "delete_repo"' });
  store.close();
  const listed = await runCli(['audit'], { env: { IRONCLAW_AUDIT_DB: path } });
  const lines = listed.stdout.trim().split('\n');
  expect(lines[0]).toMatch(
    /^1 \S+ egress info sandbox=work denied example\.org:443 via connect bytesUp=0 bytesDown=0 — example\.org:443 is not on the allow-list$/,
  );
  expect(lines[1]).toMatch(/^2 \S+ tool-call requested sandbox=wrap tool=delete_repo server=gh$/);
  expect(lines[2]).toMatch(
    /^3 \S+ tool-call denied \(of 2\) sandbox=wrap denied — the wrap policy denies tool "delete_repo"$/,
  );
});

test('prune applies retention by size and age; the chain still verifies, and a deleted row still fails', async () => {
  const path = join(dir, 'prune.db');
  const pruneEnv = { IRONCLAW_AUDIT_DB: path };
  const store = await AuditStore.open(path);
  for (let i = 0; i < 300; i += 1)
    store.append({ kind: 'egress', sandbox: 'busy', data: { i, pad: 'x'.repeat(100) } });
  store.close();
  // Some 300 bytes a record (text and the fixed share for hashes): 30k keeps about 100.
  const bySize = await runCli(['audit', 'prune', '--max-size', '30k', '--max-age', 'none'], {
    env: pruneEnv,
  });
  expect(bySize.code).toBe(0);
  const counts = /removed (\d+) records .*; (\d+) remain, and the chain verifies/.exec(
    bySize.stdout,
  );
  const [removed, remain] = [Number(counts?.[1]), Number(counts?.[2])];
  expect(removed + remain).toBe(300);
  expect(remain).toBeGreaterThan(50);
  expect(remain).toBeLessThan(150);
  expect((await runCli(['audit', 'verify'], { env: pruneEnv })).code).toBe(0);
  const bad = await runCli(['audit', 'prune', '--max-size', 'lots'], { env: pruneEnv });
  expect(bad.code).not.toBe(0);
  expect(bad.stderr).toContain('--max-size');

  // Deleting a record in the middle of what stayed is still found.
  const file = new DatabaseSync(path);
  file.exec(`DELETE FROM events WHERE seq = ${300 - Math.floor(remain / 2)}`);
  file.close();
  const deleted = await runCli(['audit', 'verify'], { env: pruneEnv });
  expect(deleted.code).toBe(1);
  expect(deleted.stdout).toContain('TAMPERED');

  // By age: everything written is older than a millisecond by now; the sealed base stays.
  const fresh = join(dir, 'age.db');
  const aged = await AuditStore.open(fresh);
  for (let i = 0; i < 5; i += 1) aged.append({ kind: 'egress', data: { i } });
  aged.close();
  const byAge = await runCli(['audit', 'prune', '--max-age', '1ms', '--max-size', 'none'], {
    env: { IRONCLAW_AUDIT_DB: fresh },
  });
  expect(byAge.stdout).toMatch(/removed 5 records .*; 0 remain, and the chain verifies/);
  const later = await AuditStore.open(fresh);
  later.append({ kind: 'egress', data: { after: true } });
  expect(later.verify()).toMatchObject({ ok: true, first: 6, last: 6 });
  later.close();
});
