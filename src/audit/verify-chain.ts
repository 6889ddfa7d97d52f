import type { DatabaseSync } from 'node:sqlite';
import { type ChainedRecord, GENESIS, recordHash, sealValid } from './chain.js';

export interface VerifyReport {
  ok: boolean;
  /** Records checked, and the range of seqs they cover. */
  records: number;
  first: number | undefined;
  last: number | undefined;
  checkpoints: number;
  /** What is wrong, a line each; empty when ok. */
  problems: string[];
}

/** Problems past this many are counted, not listed: one edit can break every later link. */
const MAX_PROBLEMS = 20;

/**
 * Walks the chain from its (sealed) base: every seq follows the one before with no gap, every
 * record's `prev` is the hash of the one before, and every hash is the record's own. Then every
 * checkpoint's seal is checked, and each must still find its record with the hash it sealed: a
 * checkpoint past the last record means the log was cut.
 */
export function verifyChain(db: DatabaseSync, key: Buffer): VerifyReport {
  const problems: string[] = [];
  let hidden = 0;
  const problem = (text: string): void => {
    if (problems.length < MAX_PROBLEMS) problems.push(text);
    else hidden += 1;
  };
  const base = db.prepare('SELECT seq, prev, mac FROM base WHERE id = 1').get();
  let expectedSeq = 1;
  let prev = GENESIS;
  if (base) {
    expectedSeq = Number(base.seq);
    prev = String(base.prev);
    if (!sealValid(key, 'base', expectedSeq, prev, String(base.mac)))
      problem(`the chain's base (record ${expectedSeq}) has a seal that does not match: edited`);
  }
  const hashes = new Map<number, string>();
  let records = 0;
  let first: number | undefined;
  let last: number | undefined;
  for (const row of db.prepare('SELECT * FROM events ORDER BY seq').iterate()) {
    const record: ChainedRecord = {
      seq: Number(row.seq),
      time: String(row.time),
      kind: String(row.kind),
      status: String(row.status),
      ref: row.ref === null ? null : Number(row.ref),
      sandbox: row.sandbox === null ? null : String(row.sandbox),
      writer: String(row.writer),
      data: String(row.data),
      prev: String(row.prev),
    };
    records += 1;
    first ??= record.seq;
    last = record.seq;
    if (record.seq !== expectedSeq)
      problem(
        record.seq > expectedSeq
          ? `records ${expectedSeq}..${record.seq - 1} are missing: deleted`
          : `record ${record.seq} is out of order`,
      );
    if (record.prev !== prev)
      problem(
        `record ${record.seq} does not follow the record before it: deleted, reordered or edited`,
      );
    const hash = recordHash(record);
    if (hash !== String(row.hash))
      problem(`record ${record.seq} was edited: its hash does not match`);
    hashes.set(record.seq, String(row.hash));
    prev = String(row.hash);
    expectedSeq = record.seq + 1;
  }
  let checkpoints = 0;
  for (const row of db.prepare('SELECT seq, hash, mac FROM checkpoints ORDER BY seq').iterate()) {
    checkpoints += 1;
    const seq = Number(row.seq);
    const hash = String(row.hash);
    if (!sealValid(key, 'checkpoint', seq, hash, String(row.mac)))
      problem(`checkpoint ${seq} has a seal that does not match: edited`);
    else if (!hashes.has(seq))
      problem(
        last === undefined || seq > last
          ? `checkpoint ${seq} is past the last record (${last ?? 'none'}): the log was cut`
          : `checkpoint ${seq} names a record that is gone: deleted`,
      );
    else if (hashes.get(seq) !== hash) problem(`record ${seq} differs from its checkpoint: edited`);
  }
  if (hidden > 0) problems.push(`and ${hidden} more problems`);
  return { ok: problems.length === 0, records, first, last, checkpoints, problems };
}
