import { parseDuration } from '../core/units.js';
import {
  type AuditQuery,
  type AuditRecord,
  AuditStore,
  auditStorePath,
} from '../audit/audit-store.js';
import { EXIT_USAGE, reportError, usageError } from './cli-error.js';

const USAGE =
  'usage: ironclaw audit [--follow] [--json] [--since 10m|2026-12-07T10:00Z] [--sandbox ID]\n       ironclaw audit verify [--json]\n';
/** How often --follow looks for new records. */
const FOLLOW_INTERVAL_MS = 250;

interface AuditFlags {
  json?: string | boolean | string[] | undefined;
  follow?: string | boolean | string[] | undefined;
  since?: string | boolean | string[] | undefined;
  sandbox?: string | boolean | string[] | undefined;
}

/**
 * `ironclaw audit`: the audit store's records, oldest first, with incomplete actions (requested
 * by a process that died before their outcome) marked; `--follow` goes on printing new ones.
 * `ironclaw audit verify` walks the hash chain and its sealed checkpoints: exit 0 when intact,
 * 1 with what was edited, deleted, reordered or cut.
 */
export async function auditCommand(positionals: string[], flags: AuditFlags): Promise<number> {
  try {
    if (positionals.length > 1 || (positionals[0] !== undefined && positionals[0] !== 'verify')) {
      process.stderr.write(USAGE);
      return EXIT_USAGE;
    }
    const store = await AuditStore.open(auditStorePath());
    try {
      if (positionals[0] === 'verify') return verify(store, flags.json === true);
      const filter = queryOf(flags);
      const incomplete = new Set((await store.incomplete()).map((record) => record.seq));
      let last = print(store.query(filter), incomplete, flags.json === true);
      if (flags.follow !== true) return 0;
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort()).once('SIGTERM', () => stop.abort());
      while (!stop.signal.aborted) {
        await new Promise((resolve) => setTimeout(resolve, FOLLOW_INTERVAL_MS));
        last = Math.max(
          last,
          print(store.query({ ...filter, afterSeq: last }), incomplete, flags.json === true),
        );
      }
      return 0;
    } finally {
      store.close();
    }
  } catch (error) {
    return reportError(error);
  }
}

function queryOf(flags: AuditFlags): AuditQuery {
  const filter: AuditQuery = {};
  if (typeof flags.sandbox === 'string') filter.sandbox = flags.sandbox;
  if (typeof flags.since === 'string') filter.since = parseSince(flags.since);
  return filter;
}

/** A duration ago (10m, 2h, 1d) or an ISO date. */
function parseSince(text: string): Date {
  const ago = /^\d+(ms|s|m|h|d)$/.test(text) ? parseDuration(text, '--since') : undefined;
  if (ago?.ok) return new Date(Date.now() - ago.value);
  const date = new Date(text);
  if (Number.isNaN(date.getTime()))
    throw usageError(
      `--since ${text}: give a duration ago (10m, 2h, 1d) or a date (2026-12-07T10:00Z)`,
    );
  return date;
}

/** Prints records; returns the last seq printed (0 for none). */
function print(records: AuditRecord[], incomplete: ReadonlySet<number>, json: boolean): number {
  let last = 0;
  for (const record of records) {
    const flagged = incomplete.has(record.seq);
    process.stdout.write(
      json
        ? `${JSON.stringify({ ...record, ...(flagged ? { incomplete: true } : {}) })}\n`
        : `${record.seq} ${record.time} ${record.kind} ${flagged ? 'INCOMPLETE' : record.status}${record.ref === null ? '' : ` (of ${record.ref})`}${record.sandbox === null ? '' : ` sandbox=${record.sandbox}`} ${JSON.stringify(record.data)}\n`,
    );
    last = record.seq;
  }
  return last;
}

function verify(store: AuditStore, json: boolean): number {
  const report = store.verify();
  if (json) process.stdout.write(`${JSON.stringify(report)}\n`);
  else if (report.ok)
    process.stdout.write(
      `audit store intact: ${report.records} records${report.first === undefined ? '' : ` (${report.first}..${report.last})`}, ${report.checkpoints} sealed checkpoints\n`,
    );
  else
    process.stdout.write(
      `audit store TAMPERED:\n${report.problems.map((p) => `  ${p}\n`).join('')}`,
    );
  return report.ok ? 0 : 1;
}
