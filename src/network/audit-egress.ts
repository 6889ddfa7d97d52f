import { audit } from '../audit/audit-trail.js';
import type { EgressRecord } from './egress-record.js';

/**
 * The listener an integrator passes as `onConnection` to write every egress connection to the
 * audit store, once it has ended: an "info" record with the decision, the bytes each way and
 * how long it lasted (rounded to a tenth of a millisecond: the record is for people).
 */
export function auditEgress(record: EgressRecord): void {
  const { sandbox, ...data } = record;
  audit({
    kind: 'egress',
    sandbox,
    data: { ...data, durationMs: Math.round(record.durationMs * 10) / 10 },
  });
}
