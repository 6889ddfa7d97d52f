import type { Config } from '../core/config.js';
import { unwrap } from '../core/errors.js';
import { formatBytes, parseAge, parseBytes } from '../core/units.js';
import {
  type AuditQuery,
  type AuditRecord,
  AuditStore,
  auditStorePath,
} from '../audit/audit-store.js';
import { loadConfig } from '../host/config-file.js';
import { auditLine } from './audit-line.js';
import { EXIT_USAGE, reportError, usageError } from './cli-error.js';

const USAGE =
  'usage: ironclaw audit [--follow] [--json] [--since 10m|1d|2026-12-07T10:00Z] [--sandbox ID]\n       ironclaw audit verify [--json]\n       ironclaw audit prune [--max-age 30d|none] [--max-size 256m|none]\n';
const SUBCOMMANDS = ['verify', 'prune'];
/** How often --follow looks for new records. */
const FOLLOW_INTERVAL_MS = 250;

interface AuditFlags {
  json?: string | boolean | string[] | undefined;
  follow?: string | boolean | string[] | undefined;
  since?: string | boolean | string[] | undefined;
  sandbox?: string | boolean | string[] | undefined;
  'max-age'?: string | boolean | string[] | undefined;
  'max-size'?: string | boolean | string[] | undefined;
}

/**
 * `ironclaw audit`: the audit store's records, oldest first, with incomplete actions (requested
 * by a process that died before their outcome) marked; `--follow` goes on printing new ones.
 * `ironclaw audit verify` walks the hash chain and its sealed checkpoints: exit 0 when intact,
 * 1 with what was edited, deleted, reordered or cut. `ironclaw audit prune` applies retention
 * now (the configured audit.maxAge and audit.maxSize, or the flags), as the daemon and MCP
 * servers do now and then, and verifies the chain after.
 */
export async function auditCommand(positionals: string[], flags: AuditFlags): Promise<number> {
  try {
    const sub = positionals[0];
    if (positionals.length > 1 || (sub !== undefined && !SUBCOMMANDS.includes(sub))) {
      process.stderr.write(USAGE);
      return EXIT_USAGE;
    }
    const retention = sub === 'prune' ? await retentionOf(flags) : undefined;
    const store = await AuditStore.open(auditStorePath());
    try {
      if (sub === 'verify') return verify(store, flags.json === true);
      if (retention !== undefined) return prune(store, retention, flags.json === true);
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
  const ago = /^\d+(ms|s|m|h|d)$/.test(text) ? parseAge(text, '--since') : undefined;
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
        : `${auditLine(record, flagged)}\n`,
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

interface Retention {
  maxAgeMs: number | undefined;
  maxBytes: number | undefined;
}

/** The configured retention, with --max-age and --max-size over it. */
async function retentionOf(flags: AuditFlags): Promise<Retention> {
  const audit: NonNullable<Config['audit']> = {};
  const [maxAge, maxSize] = [flags['max-age'], flags['max-size']];
  if (typeof maxAge === 'string') {
    if (maxAge !== 'none') unwrap(parseAge(maxAge, '--max-age'));
    audit.maxAge = maxAge;
  }
  if (typeof maxSize === 'string') {
    if (maxSize !== 'none') unwrap(parseBytes(maxSize, '--max-size'));
    audit.maxSize = maxSize;
  }
  const config = await loadConfig({ audit });
  return { maxAgeMs: config.auditMaxAgeMs, maxBytes: config.auditMaxBytes };
}

function prune(store: AuditStore, retention: Retention, json: boolean): number {
  const removed = store.retain({ maxAgeMs: retention.maxAgeMs, maxBytes: retention.maxBytes });
  const report = store.verify();
  if (json) process.stdout.write(`${JSON.stringify({ removed, ...report })}\n`);
  else {
    const limits = [
      retention.maxAgeMs === undefined ? undefined : `older than ${age(retention.maxAgeMs)}`,
      retention.maxBytes === undefined ? undefined : `past ${formatBytes(retention.maxBytes)}`,
    ].filter((limit) => limit !== undefined);
    process.stdout.write(
      `removed ${removed} records${limits.length > 0 ? ` (${limits.join(', ')})` : ' (no retention limits are set)'}; ${report.records} remain, and the chain ${report.ok ? 'verifies' : `does NOT verify:\n${report.problems.map((p) => `  ${p}\n`).join('')}`}\n`,
    );
  }
  return report.ok ? 0 : 1;
}

function age(ms: number): string {
  const days = ms / 86_400_000;
  return days >= 1 ? `${Number(days.toFixed(1))}d` : `${Number((ms / 3_600_000).toFixed(1))}h`;
}
