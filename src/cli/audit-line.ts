import type { AuditRecord } from '../audit/audit-store.js';

/** A value longer than this is cut in a line (`--json` has it whole). */
const MAX_VALUE_CHARS = 160;

/** Fields said in words of their own, or not at all, rather than as key=value. */
const SPECIAL = new Set([
  'decision',
  'host',
  'port',
  'protocol',
  'address',
  'tool',
  'server',
  'reason',
  'error',
  'argumentsSha256',
]);

/**
 * One record as a line for people: seq, time, kind, status (INCOMPLETE for a request whose
 * writer died first), the request it settles, the sandbox, then what happened in words: the
 * decision, host:port, the tool, the other fields as key=value, and the reason or error last.
 *
 *   42 2026-12-07T10:00:01.200Z egress info sandbox=work denied example.org:443 via connect
 *     bytesUp=0 bytesDown=0 durationMs=0.4 — example.org:443 is not allowed (one line)
 */
export function auditLine(record: AuditRecord, incomplete: boolean): string {
  const words = [
    String(record.seq),
    record.time,
    record.kind,
    incomplete ? 'INCOMPLETE' : record.status,
  ];
  if (record.ref !== null) words.push(`(of ${record.ref})`);
  if (record.sandbox !== null) words.push(`sandbox=${record.sandbox}`);
  const data = record.data;
  if (typeof data.decision === 'string') words.push(data.decision);
  if (typeof data.host === 'string')
    words.push(data.port === undefined ? data.host : `${data.host}:${value(data.port)}`);
  if (typeof data.address === 'string' && data.address !== data.host)
    words.push(`(${data.address})`);
  if (typeof data.protocol === 'string') words.push(`via ${data.protocol}`);
  if (typeof data.tool === 'string') words.push(`tool=${data.tool}`);
  if (Array.isArray(data.server)) words.push(`server=${value(data.server.join(' '))}`);
  for (const [key, field] of Object.entries(data))
    if (!SPECIAL.has(key) && field !== undefined) words.push(`${key}=${value(field)}`);
  const why = [data.reason, data.error].filter((text) => typeof text === 'string');
  if (why.length > 0) words.push('—', why.join('; '));
  return words.join(' ');
}

function value(field: unknown): string {
  const text =
    typeof field === 'string'
      ? /^[^\s"=]+$/.test(field)
        ? field
        : JSON.stringify(field)
      : JSON.stringify(field);
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS)}…` : text;
}
