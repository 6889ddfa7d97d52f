import { IronClawError, toIronClawError } from '../core/errors.js';
import {
  type AuditInput,
  type AuditOutcome,
  AuditStore,
  auditStorePath,
  type RetainLimits,
} from './audit-store.js';

/*
 * The one audit path of the product: everything that records an event (sandbox lifecycle,
 * egress, wrapped tool calls, workspace round trips, seccomp kills, approvals) writes through
 * here to the audit store. Each process opens the store once, on its first record, at
 * IRONCLAW_AUDIT_DB or audit.db in the state directory; the daemon, MCP servers, wraps and CLI
 * commands all append to the same file (SQLite's WAL lets them). Writes are synchronous, as the
 * store is: a record is on disk before the action it describes runs, and none is lost when the
 * process ends.
 *
 * Auditing never takes down a process that holds other sandboxes: a store that cannot be opened
 * or written is said once on stderr (and by `ironclaw doctor`) and the event is dropped, except
 * for an action that needs approval (a workspace apply): that is refused when its request cannot
 * be written first (`required`). No audit, no apply.
 */

/** A failed open is tried again on a later record, but no sooner than this. */
const REOPEN_AFTER_MS = 10_000;

let store: AuditStore | undefined;
let storePath: string | undefined;
let failedOpen: { path: string; error: IronClawError; at: number } | undefined;
let warned = false;
let sealOnExit = false;

/** An action recorded before it runs; `settle` records how it ended (once) and never throws. */
export interface AuditedAction {
  /** The request's seq, or undefined when it could not be recorded. */
  readonly seq: number | undefined;
  settle(outcome: AuditOutcome, data?: Readonly<Record<string, unknown>>): void;
}

/** Records something that happened (status "info"); never throws. */
export function audit(input: AuditInput): void {
  write((open) => open.append(input));
}

/**
 * Records an action before it runs. With `required`, a request that cannot be written throws
 * AUDIT_UNAVAILABLE and the caller must not run the action; otherwise it is dropped as `audit`
 * drops an event.
 */
export function auditAction(
  input: AuditInput,
  options: { required?: boolean } = {},
): AuditedAction {
  let pending: ReturnType<AuditStore['request']> | undefined;
  if (options.required === true) {
    try {
      pending = openStore().request(input);
    } catch (error) {
      const cause = toIronClawError(error);
      warn(cause);
      throw new IronClawError(
        'AUDIT_UNAVAILABLE',
        `${input.kind} refused: it needs approval, and its request cannot be written to the audit store (${cause.message}); nothing was done`,
        { cause },
      );
    }
  } else pending = write((open) => open.request(input));
  let settled = false;
  return {
    seq: pending?.record.seq,
    settle(outcome, data) {
      if (settled || pending === undefined) return;
      settled = true;
      const request = pending;
      write(() => request.settle(outcome, data));
    },
  };
}

/**
 * Runs `action` as an audited action: requested first, then settled "done" with what
 * `describe` says of its result, or with the error it threw: "denied" for a refusal (its code
 * in `denials`), "failed" otherwise.
 */
export async function audited<T>(
  input: AuditInput,
  action: () => Promise<T>,
  options: {
    required?: boolean;
    describe?: (result: T) => Readonly<Record<string, unknown>>;
    denials?: readonly string[];
  } = {},
): Promise<T> {
  const request = auditAction(input, options.required === true ? { required: true } : {});
  try {
    const result = await action();
    request.settle('done', options.describe?.(result) ?? {});
    return result;
  } catch (error) {
    const failure = toIronClawError(error);
    request.settle(options.denials?.includes(failure.code) === true ? 'denied' : 'failed', {
      code: failure.code,
      error: failure.message.slice(0, 2000),
    });
    throw error;
  }
}

/**
 * Applies retention now and then (now, and every `everyMs`) until `signal` aborts: for the
 * long-lived writers, the daemon and MCP servers. A failure is said like any audit failure.
 */
export function keepAuditTrimmed(
  limits: RetainLimits,
  options: { everyMs?: number; signal?: AbortSignal } = {},
): void {
  if (limits.maxAgeMs === undefined && limits.maxBytes === undefined) return;
  const trim = (): void => {
    write((open) => open.retain(limits));
  };
  trim();
  const timer = setInterval(trim, options.everyMs ?? 60 * 60 * 1000);
  // Retention must not keep a process alive that is otherwise done.
  timer.unref();
  options.signal?.addEventListener('abort', () => clearInterval(timer), { once: true });
}

/** Whether this process can write the audit store, and where it is (for `ironclaw doctor`). */
export function auditTrailHealth(): { ok: boolean; path: string; detail: string } {
  const path = auditStorePath();
  try {
    openStore();
    return { ok: true, path, detail: `audit store ${path}` };
  } catch (error) {
    return { ok: false, path, detail: toIronClawError(error).message };
  }
}

/** Runs `step` on the open store; a failure is said once on stderr and the event dropped. */
function write<T>(step: (open: AuditStore) => T): T | undefined {
  try {
    return step(openStore());
  } catch (error) {
    warn(toIronClawError(error, 'AUDIT_UNAVAILABLE'));
    return undefined;
  }
}

/**
 * The process's one connection to the store, for a writer that must fail when it cannot record
 * (the approval broker: no record, no approval). Throws AUDIT_UNAVAILABLE when it cannot be opened.
 */
export function auditTrailStore(): AuditStore {
  return openStore();
}

/** The store at the current path, opened on first use (again if the path changed). */
function openStore(): AuditStore {
  const path = auditStorePath();
  if (store !== undefined && storePath === path) return store;
  if (failedOpen?.path === path && Date.now() - failedOpen.at < REOPEN_AFTER_MS)
    throw failedOpen.error;
  closeStore();
  try {
    store = AuditStore.openNow(path);
  } catch (error) {
    failedOpen = { path, error: toIronClawError(error), at: Date.now() };
    throw failedOpen.error;
  }
  storePath = path;
  failedOpen = undefined;
  if (!sealOnExit) {
    sealOnExit = true;
    // The head is sealed in a checkpoint when the process ends (close does it, synchronously).
    process.once('exit', closeStore);
  }
  return store;
}

function closeStore(): void {
  const open = store;
  store = undefined;
  storePath = undefined;
  try {
    open?.close();
  } catch (error) {
    warn(toIronClawError(error));
  }
}

function warn(error: IronClawError): void {
  if (warned) return;
  warned = true;
  const path = auditStorePath();
  const what = error.message.includes(path) ? error.message : `${path}: ${error.message}`;
  process.stderr.write(
    `ironclaw: audit records are being dropped: ${what} (said once; \`ironclaw doctor\` checks the store)\n`,
  );
}
