import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** The `prev` of the first record: no record came before it. */
export const GENESIS = '0'.repeat(64);

/** The fields of a record that its hash covers: all of them but the hash itself. */
export interface ChainedRecord {
  seq: number;
  time: string;
  kind: string;
  status: string;
  ref: number | null;
  sandbox: string | null;
  writer: string;
  data: string;
  prev: string;
}

/**
 * sha256 over the record's fields as one JSON array, a fixed order and no free-form joining, so
 * no two different records hash alike by moving text from one field to the next.
 */
export function recordHash(record: ChainedRecord): string {
  return createHash('sha256')
    .update(
      JSON.stringify([
        record.seq,
        record.time,
        record.kind,
        record.status,
        record.ref,
        record.sandbox,
        record.writer,
        record.data,
        record.prev,
      ]),
    )
    .digest('hex');
}

/** An HMAC-SHA256 seal of (what, seq, hash): a checkpoint of the chain's head, or its base. */
export function seal(key: Buffer, what: 'checkpoint' | 'base', seq: number, hash: string): string {
  return createHmac('sha256', key)
    .update(JSON.stringify([what, seq, hash]))
    .digest('hex');
}

export function sealValid(
  key: Buffer,
  what: 'checkpoint' | 'base',
  seq: number,
  hash: string,
  mac: string,
): boolean {
  const expected = Buffer.from(seal(key, what, seq, hash), 'hex');
  const given = Buffer.from(mac, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
