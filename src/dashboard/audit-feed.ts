import type { AuditRecord } from '../audit/audit-store.js';
import { auditTrailStore } from '../audit/audit-trail.js';

/** How often the store is read for records other processes wrote, while anyone watches. */
const POLL_MS = 400;
/** Most records one read hands on; the next read picks up the rest. */
const BATCH = 500;

export type FeedListener = (records: AuditRecord[]) => void;

/**
 * The audit store as a live feed, read through this process's one connection to it
 * (audit-trail). Records come from every IronClaw process (the CLI, the daemon, MCP servers,
 * wrapped servers) into one SQLite file, so the feed reads the file for what is new rather than
 * listening in this process; it does so only while a page watches. A store that cannot be opened
 * is tried again on the next read (audit-trail waits a little between tries).
 */
export class AuditFeed {
  /** Each listener with the seq of the last record it has. */
  readonly #listeners = new Map<FeedListener, number>();
  #timer: NodeJS.Timeout | undefined;
  #reading = false;
  #closed = false;

  /** The newest records, oldest first, with those cut short by a crash marked incomplete. */
  async backlog(limit: number): Promise<(AuditRecord & { incomplete?: true })[]> {
    const store = auditTrailStore();
    const records = store.tail(limit);
    const incomplete = new Set((await store.incomplete()).map((record) => record.seq));
    return records.map((record) =>
      incomplete.has(record.seq) ? { ...record, incomplete: true } : record,
    );
  }

  /**
   * Calls `listener` with each batch of records after seq `after` (the last one it has) until
   * the returned function is called.
   */
  subscribe(after: number, listener: FeedListener): () => void {
    this.#listeners.set(listener, after);
    this.#timer ??= setInterval(() => void this.#poll(), POLL_MS);
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0 && this.#timer) {
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
    };
  }

  /** Stops the feed; the store is the process's (audit-trail's) and stays open. */
  close(): void {
    this.#closed = true;
    this.#listeners.clear();
    clearInterval(this.#timer);
  }

  async #poll(): Promise<void> {
    if (this.#reading || this.#closed) return;
    this.#reading = true;
    try {
      const store = auditTrailStore();
      const from = Math.min(...this.#listeners.values());
      const records = store.query({ afterSeq: from, limit: BATCH });
      for (const [listener, after] of this.#listeners) {
        const fresh = records.filter((record) => record.seq > after);
        if (fresh.length === 0) continue;
        this.#listeners.set(listener, fresh.at(-1)?.seq ?? after);
        listener(fresh);
      }
    } catch {
      // An unreadable store shows in the page through backlog(); polling goes on quietly.
    } finally {
      this.#reading = false;
    }
  }
}
