import {
  type AuditQuery,
  type AuditRecord,
  AuditStore,
  auditStorePath,
} from '../../src/audit/audit-store.js';

/** The records of the audit store at `path` (this test worker's by default), oldest first. */
export async function auditRecords(
  path: string = auditStorePath(),
  filter: AuditQuery = {},
): Promise<AuditRecord[]> {
  const store = await AuditStore.open(path);
  try {
    return store.query(filter);
  } finally {
    store.close();
  }
}

/** Each record as `kind status`, with its data's fields named in `fields`, for toEqual. */
export function summary(records: readonly AuditRecord[], ...fields: string[]): unknown[][] {
  return records.map((record) => [
    `${record.kind} ${record.status}`,
    ...fields.map((field) => record.data[field]),
  ]);
}
