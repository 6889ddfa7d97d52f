import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DatabaseSync, type SQLInputValue, type SQLOutputValue } from 'node:sqlite';
import { IronClawError } from '../core/errors.js';
import { persistentStateDir } from '../host/state-dir.js';
import { GENESIS, recordHash, seal } from './chain.js';
import { EventRing } from './event-ring.js';
import { integer, nullableInteger, nullableText, text } from './row.js';
import { type VerifyReport, verifyChain } from './verify-chain.js';
import { writerAlive, writerId } from './writer-id.js';

/*
 * The audit store: one SQLite file (node:sqlite, built into Node 24: nothing to compile or
 * download, and the same engine a user can open with the sqlite3 shell). Records are appended,
 * never updated: an action is written as "requested" before it runs and its outcome as a record
 * of its own that names the request (`ref`), so every record can be hash-chained to the one
 * before it. The head is sealed with an HMAC checkpoint every CHECKPOINT_EVERY records and on
 * close; `verify` then finds an edited, deleted, reordered or truncated record. The key lives
 * beside the file (0600): the seal holds against anyone who cannot read it, not against its owner.
 */

export type AuditStatus = 'requested' | 'done' | 'failed' | 'denied' | 'info';
export type AuditOutcome = 'done' | 'failed' | 'denied';

export interface AuditInput {
  kind: string;
  sandbox?: string | undefined;
  data?: Readonly<Record<string, unknown>>;
}

export interface AuditRecord {
  seq: number;
  time: string;
  kind: string;
  status: AuditStatus;
  /** For an outcome, the seq of the request it settles. */
  ref: number | null;
  sandbox: string | null;
  writer: string;
  data: Record<string, unknown>;
  hash: string;
}

export interface AuditQuery {
  afterSeq?: number;
  since?: Date;
  sandbox?: string;
  limit?: number;
}

export interface RetainLimits {
  maxAgeMs?: number | undefined;
  maxRecords?: number | undefined;
  maxBytes?: number | undefined;
}

/** A record's bytes as retention counts them: its text, and 200 for its hashes and numbers. */
const RECORD_BYTES =
  'length(data) + length(kind) + length(writer) + ifnull(length(sandbox), 0) + 200';

const CHECKPOINT_EVERY = 100;
const RING_SIZE = 10_000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY, time TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL,
  ref INTEGER, sandbox TEXT, writer TEXT NOT NULL, data TEXT NOT NULL,
  prev TEXT NOT NULL, hash TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_ref ON events(ref);
CREATE TABLE IF NOT EXISTS checkpoints (
  seq INTEGER PRIMARY KEY, hash TEXT NOT NULL, time TEXT NOT NULL, mac TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS base (
  id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, prev TEXT NOT NULL, mac TEXT NOT NULL);
`;

/** IRONCLAW_AUDIT_DB, else audit.db in the persistent state directory. */
export function auditStorePath(env: NodeJS.ProcessEnv = process.env): string {
  return env.IRONCLAW_AUDIT_DB ?? join(persistentStateDir(env), 'audit.db');
}

export class AuditStore {
  readonly #db: DatabaseSync;
  readonly #key: Buffer;
  readonly #writer: string;
  readonly #ring = new EventRing<AuditRecord>(RING_SIZE);
  #closed = false;

  private constructor(db: DatabaseSync, key: Buffer, writer: string) {
    this.#db = db;
    this.#key = key;
    this.#writer = writer;
  }

  /** Opens (and creates) the store at `path`; its seal key is `path`.key. */
  static open(path: string = auditStorePath()): Promise<AuditStore> {
    return new Promise((resolve) => resolve(AuditStore.openNow(path)));
  }

  /**
   * `open` without waiting: a process's first record opens the store (audit-trail.ts), and that
   * record must be on disk before the action it describes runs. SQLite itself is synchronous;
   * the few file calls here (a directory, the key, /proc/self/stat) happen once per process.
   */
  static openNow(path: string = auditStorePath()): AuditStore {
    let db: DatabaseSync;
    let key: Buffer;
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      key = loadKey(`${path}.key`);
      db = new DatabaseSync(path);
      // WAL lets readers go on while one process appends; a writer waits its turn (busy_timeout)
      // instead of failing. NORMAL keeps every commit through a crash of the process.
      // busy_timeout first: switching to WAL takes a lock another opener may hold for a moment.
      db.exec(
        'PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;',
      );
      db.exec(SCHEMA);
    } catch (error) {
      if (error instanceof IronClawError) throw error;
      throw new IronClawError(
        'AUDIT_UNAVAILABLE',
        `cannot open the audit store ${path}: ${error instanceof Error ? error.message : String(error)}; check that its directory is writable, or set IRONCLAW_AUDIT_DB to another file`,
        { cause: error },
      );
    }
    return new AuditStore(db, key, writerId());
  }

  /** Appends one record that needs no outcome (status "info"). */
  append(input: AuditInput): AuditRecord {
    return this.#append(input, 'info', null);
  }

  /**
   * Records an action before it runs. Its outcome is appended by `settle`; a process that dies
   * first leaves the request without one, which `incomplete` reports.
   */
  request(input: AuditInput): {
    record: AuditRecord;
    settle(outcome: AuditOutcome, data?: Readonly<Record<string, unknown>>): AuditRecord;
  } {
    const record = this.#append(input, 'requested', null);
    let settled: AuditRecord | undefined;
    return {
      record,
      settle: (outcome, data) => {
        settled ??= this.#append(
          { kind: input.kind, sandbox: input.sandbox, data: data ?? {} },
          outcome,
          record.seq,
        );
        return settled;
      },
    };
  }

  #append(input: AuditInput, status: AuditStatus, ref: number | null): AuditRecord {
    this.#assertOpen();
    const data = JSON.stringify(input.data ?? {});
    const record = this.#transaction(() => {
      const head = this.#head();
      const fields = {
        seq: head.seq + 1,
        time: new Date().toISOString(),
        kind: input.kind,
        status,
        ref,
        sandbox: input.sandbox ?? null,
        writer: this.#writer,
        data,
        prev: head.hash,
      };
      const hash = recordHash(fields);
      this.#db
        .prepare(
          'INSERT INTO events (seq, time, kind, status, ref, sandbox, writer, data, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(...Object.values(fields), hash);
      if (fields.seq % CHECKPOINT_EVERY === 0) this.#checkpoint(fields.seq, hash);
      return { ...fields, data: JSON.parse(data) as never, hash } satisfies AuditRecord;
    });
    this.#ring.push(record);
    return record;
  }

  /**
   * Runs `work` in one write transaction. SQLite ends a transaction by itself on some errors
   * (a full disk, an I/O error, a lock it gave up on); a ROLLBACK after that fails with "no
   * transaction is active" and would hide the error that matters, so it is only sent while the
   * transaction is still open. (Waiting for another writer's lock is busy_timeout's job.)
   */
  #transaction<T>(work: () => T): T {
    try {
      this.#db.exec('BEGIN IMMEDIATE');
      try {
        const result = work();
        this.#db.exec('COMMIT');
        return result;
      } finally {
        if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      }
    } catch (error) {
      if (error instanceof IronClawError) throw error;
      throw new IronClawError(
        'AUDIT_UNAVAILABLE',
        `cannot write the audit store: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
  }

  /** The last record's seq and hash, or the base's when retention removed every record. */
  #head(): { seq: number; hash: string } {
    const last = this.#db.prepare('SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1').get();
    if (last) return { seq: integer(last.seq, 'seq'), hash: text(last.hash, 'hash') };
    const base = this.#db.prepare('SELECT seq, prev FROM base WHERE id = 1').get();
    return base
      ? { seq: integer(base.seq, 'seq') - 1, hash: text(base.prev, 'prev') }
      : { seq: 0, hash: GENESIS };
  }

  #checkpoint(seq: number, hash: string): void {
    this.#db
      .prepare('INSERT OR REPLACE INTO checkpoints (seq, hash, time, mac) VALUES (?, ?, ?, ?)')
      .run(seq, hash, new Date().toISOString(), seal(this.#key, 'checkpoint', seq, hash));
  }

  /** Seals the current head in a checkpoint (done on close too). */
  seal(): void {
    this.#assertOpen();
    this.#transaction(() => {
      // Only a record can be sealed: with none left (retention took them all), the base is.
      const last = this.#db.prepare('SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1').get();
      if (last) this.#checkpoint(integer(last.seq, 'seq'), text(last.hash, 'hash'));
    });
  }

  query(filter: AuditQuery = {}): AuditRecord[] {
    this.#assertOpen();
    const where: string[] = [];
    const args: SQLInputValue[] = [];
    const when = (clause: string, value: SQLInputValue | undefined): void => {
      if (value === undefined) return;
      where.push(clause);
      args.push(value);
    };
    when('seq > ?', filter.afterSeq);
    when('time >= ?', filter.since?.toISOString());
    when('sandbox = ?', filter.sandbox);
    const sql = `SELECT * FROM events${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY seq LIMIT ?`;
    return this.#db
      .prepare(sql)
      .all(...args, filter.limit ?? -1)
      .map((row) => toRecord(row));
  }

  /** The newest `limit` records, oldest first. */
  tail(limit: number): AuditRecord[] {
    this.#assertOpen();
    return this.#db
      .prepare('SELECT * FROM (SELECT * FROM events ORDER BY seq DESC LIMIT ?) ORDER BY seq')
      .all(limit)
      .map((row) => toRecord(row));
  }

  /** Requests with no outcome whose writer has died: actions cut short by a crash. */
  async incomplete(): Promise<AuditRecord[]> {
    this.#assertOpen();
    const open = this.#db
      .prepare(
        "SELECT * FROM events e WHERE status = 'requested' AND NOT EXISTS (SELECT 1 FROM events o WHERE o.ref = e.seq) ORDER BY seq",
      )
      .all()
      .map((row) => toRecord(row));
    const alive = await Promise.all(open.map((record) => writerAlive(record.writer)));
    return open.filter((_, index) => !alive[index]);
  }

  /** The records this process wrote, the last 10,000 at most, oldest first. */
  recent(): AuditRecord[] {
    return this.#ring.toArray();
  }

  verify(): VerifyReport {
    this.#assertOpen();
    return verifyChain(this.#db, this.#key);
  }

  /**
   * Removes the oldest records, those older than maxAgeMs, past the newest maxRecords, or past
   * the newest maxBytes (a record's size as stored: its text and a fixed share for its hashes
   * and numbers), and seals where the chain now starts, so what stays still verifies. Returns
   * how many went. The file does not shrink: SQLite reuses the freed pages for new records.
   */
  retain(limits: RetainLimits): number {
    this.#assertOpen();
    return this.#transaction(() => {
      const head = this.#head();
      let cut = 0;
      if (limits.maxRecords !== undefined) cut = Math.max(cut, head.seq - limits.maxRecords);
      if (limits.maxAgeMs !== undefined) {
        const before = new Date(Date.now() - limits.maxAgeMs).toISOString();
        const old = this.#db
          .prepare('SELECT MAX(seq) AS seq FROM events WHERE time < ?')
          .get(before);
        cut = Math.max(cut, nullableInteger(old?.seq ?? null, 'seq') ?? 0);
      }
      if (limits.maxBytes !== undefined) {
        const over = this.#db
          .prepare(
            `SELECT MAX(seq) AS seq FROM (SELECT seq, SUM(${RECORD_BYTES}) OVER (ORDER BY seq DESC) AS total FROM events) WHERE total > ?`,
          )
          .get(limits.maxBytes);
        cut = Math.max(cut, nullableInteger(over?.seq ?? null, 'seq') ?? 0);
      }
      const first = this.#db
        .prepare('SELECT seq, prev FROM events WHERE seq > ? ORDER BY seq LIMIT 1')
        .get(cut);
      const removed = Number(
        this.#db.prepare('DELETE FROM events WHERE seq <= ?').run(cut).changes,
      );
      if (removed > 0) {
        const baseSeq = first ? integer(first.seq, 'seq') : head.seq + 1;
        const prev = first ? text(first.prev, 'prev') : head.hash;
        this.#db
          .prepare('INSERT OR REPLACE INTO base (id, seq, prev, mac) VALUES (1, ?, ?, ?)')
          .run(baseSeq, prev, seal(this.#key, 'base', baseSeq, prev));
        this.#db.prepare('DELETE FROM checkpoints WHERE seq < ?').run(baseSeq);
      }
      return removed;
    });
  }

  /** Seals the head and closes the file. Idempotent. */
  close(): void {
    if (this.#closed) return;
    try {
      this.seal();
    } finally {
      this.#closed = true;
      this.#db.close();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new IronClawError('AUDIT_UNAVAILABLE', 'the audit store is closed');
  }
}

function toRecord(row: Record<string, SQLOutputValue>): AuditRecord {
  return {
    seq: integer(row.seq, 'seq'),
    time: text(row.time, 'time'),
    kind: text(row.kind, 'kind'),
    status: text(row.status, 'status') as AuditStatus,
    ref: nullableInteger(row.ref, 'ref'),
    sandbox: nullableText(row.sandbox, 'sandbox'),
    writer: text(row.writer, 'writer'),
    data: JSON.parse(text(row.data, 'data')) as Record<string, unknown>,
    hash: text(row.hash, 'hash'),
  };
}

/** The seal key: 32 random bytes made once (0600, never overwritten), read after. */
function loadKey(path: string): Buffer {
  try {
    writeFileSync(path, randomBytes(32), { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const key = readFileSync(path);
  if (key.length !== 32)
    throw new IronClawError(
      'AUDIT_UNAVAILABLE',
      `the audit seal key ${path} is ${key.length} bytes, not 32; it was changed or cut`,
    );
  return key;
}
