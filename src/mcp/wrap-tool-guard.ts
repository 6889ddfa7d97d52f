import type { Logger } from './logger.js';
import {
  compareTools,
  legacyUpgrades,
  type ListedTool,
  readPins,
  type ToolChanges,
  toolDigest,
  writePins,
} from './wrap-tool-pins.js';

/**
 * The proxy's view of the pinned tools, per name (see wrap-tool-pins.ts for why per name and not
 * per list). A tool listed for the first time is pinned then (trust on first use: the user
 * configured this server, and the client shows its tools). A listing in which a pinned tool's
 * definition changed is flagged, and the changed tool stays blocked for the rest of the run,
 * even if the server flips back, until the user accepts it with --accept-tools.
 */
export class ToolGuard {
  readonly #path: string;
  readonly #argv: readonly string[];
  readonly #log: Logger;
  #pinned: Record<string, string>;
  readonly #blocked = new Set<string>();

  private constructor(
    path: string,
    argv: readonly string[],
    log: Logger,
    pinned: Record<string, string>,
  ) {
    this.#path = path;
    this.#argv = argv;
    this.#log = log;
    this.#pinned = pinned;
  }

  static async open(path: string, argv: readonly string[], log: Logger): Promise<ToolGuard> {
    const file = await readPins(path);
    return new ToolGuard(path, argv, log, { ...file?.tools });
  }

  /**
   * Reviews one page of a tools/list answer: undefined to pass it on, or the changes when a
   * pinned tool changed (`changed` is never empty then).
   */
  async review(tools: readonly ListedTool[]): Promise<ToolChanges | undefined> {
    let changes = compareTools(this.#pinned, tools);
    if (changes.added.length > 0) {
      // Another run of the same command (another client) may have pinned them meanwhile.
      const onDisk = (await readPins(this.#path))?.tools;
      this.#pinned = { ...onDisk, ...this.#pinned };
      changes = compareTools(this.#pinned, tools);
    }
    if (changes.added.length > 0) {
      const firstEver = Object.keys(this.#pinned).length === 0;
      for (const tool of tools)
        if (changes.added.includes(tool.name)) this.#pinned[tool.name] ??= toolDigest(tool);
      await writePins(this.#path, this.#argv, this.#pinned);
      const message = firstEver
        ? `pinned the wrapped server's ${changes.added.length} tools (${this.#path}); a later change of any of them will be flagged`
        : `the wrapped server lists tools not seen before, pinned now (${this.#path}): ${changes.added.join(', ')}`;
      if (firstEver) this.#log.info(message);
      else this.#log.warn(message);
    }
    const upgraded = legacyUpgrades(this.#pinned, tools);
    if (upgraded.length > 0) {
      for (const tool of upgraded) this.#pinned[tool.name] = toolDigest(tool);
      await writePins(this.#path, this.#argv, this.#pinned);
      this.#log.info(
        `pinned the annotations of ${upgraded.length} tools too, unchanged since they were pinned without them (${this.#path})`,
      );
    }
    if (changes.changed.length === 0) return undefined;
    for (const name of changes.changed) this.#blocked.add(name);
    return changes;
  }

  /** True for a tool that was flagged in this run and not accepted since. */
  blocked(name: string): boolean {
    return this.#blocked.has(name);
  }
}
