import { audit } from '../audit/audit-log.js';
import type { EgressRecord } from './egress-record.js';

/**
 * The listener an integrator passes as `onConnection` to write every egress connection to the
 * audit log. Durations are rounded to a tenth of a millisecond: the log is for people.
 */
export function auditEgress(record: EgressRecord): void {
  audit({ event: 'egress', ...record, durationMs: Math.round(record.durationMs * 10) / 10 });
}
