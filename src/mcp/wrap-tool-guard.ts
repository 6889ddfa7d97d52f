import type { Logger } from './logger.js';
import {
  compareTools,
  type ListedTool,
  readPins,
  type ToolChanges,
  toolDigest,
  writePins,
} from './wrap-tool-pins.js';

/**
 * The proxy's view of the pinned tool list: pins the first listing ever seen for a command line
 * (trust on first use: the user configured this server, and sees its tools then), and flags any
 * later listing that adds or changes a tool. A flagged tool stays blocked for the rest of the
 * run, even if the server flips back, until the user accepts the list with --accept-tools.
 */
export class ToolGuard {
  readonly #path: string;
  readonly #argv: readonly string[];
  readonly #log: Logger;
  #pinned: Record<string, string> | undefined;
  /** The first listing, page by page, while it is being pinned. */
  #pinning: ListedTool[] | undefined;
  readonly #blocked = new Set<string>();

  private constructor(
    path: string,
    argv: readonly string[],
    log: Logger,
    pinned?: Record<string, string>,
  ) {
    this.#path = path;
    this.#argv = argv;
    this.#log = log;
    this.#pinned = pinned;
  }

  static async open(path: string, argv: readonly string[], log: Logger): Promise<ToolGuard> {
    const file = await readPins(path);
    return new ToolGuard(path, argv, log, file?.tools);
  }

  /** Reviews one page of a tools/list answer: undefined to pass it on, or what changed. */
  async review(
    tools: ListedTool[],
    page: { first: boolean; last: boolean },
  ): Promise<ToolChanges | undefined> {
    if (this.#pinned === undefined) {
      if (page.first || this.#pinning === undefined) this.#pinning = [];
      this.#pinning.push(...tools);
      if (page.last) {
        const all = this.#pinning;
        this.#pinning = undefined;
        await writePins(this.#path, this.#argv, all);
        this.#pinned = Object.fromEntries(all.map((tool) => [tool.name, toolDigest(tool)]));
        this.#log.info(
          `pinned the wrapped server's ${all.length} tools (${this.#path}); a later change will be flagged`,
        );
      }
      return undefined;
    }
    const changes = compareTools(this.#pinned, tools);
    if (page.first && page.last && changes.removed.length > 0)
      this.#log.info(`the wrapped server no longer lists: ${changes.removed.join(', ')}`);
    if (changes.added.length === 0 && changes.changed.length === 0) return undefined;
    for (const name of [...changes.added, ...changes.changed]) this.#blocked.add(name);
    return changes;
  }

  /** True for a tool that was flagged in this run and not accepted since. */
  blocked(name: string): boolean {
    return this.#blocked.has(name);
  }
}
