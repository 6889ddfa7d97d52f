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
