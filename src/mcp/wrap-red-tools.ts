import type { ToolHints, ToolPolicy } from './wrap-policy.js';
import { listedTools } from './wrap-tool-pins.js';

/** Clients that honour it ask their user for every call of such a tool. */
const REQUIRES_USER = 'anthropic/requiresUserInteraction';

/**
 * Which tools are red (need a person's yes first), from the policy and the annotations of the
 * tool lists passed on; kept for the whole run so a later list cannot quietly lift the mark.
 */
export class RedTools {
  readonly #policy: ToolPolicy;
  /** Per tool, the annotations of the last tool list passed on; no entry: none (or never listed). */
  readonly #hints = new Map<string, ToolHints>();
  /** Tools seen red in this run stay red, even if a later list drops the hint. */
  readonly #red = new Set<string>();

  constructor(policy: ToolPolicy) {
    this.#policy = policy;
  }

  hints(tool: string): ToolHints | undefined {
    return this.#hints.get(tool);
  }

  /** Red: needs a person's yes first (the policy says ask, or the server marks it destructive). */
  isRed(tool: string): boolean {
    if (this.#policy.decide(tool, this.#hints.get(tool)) === 'ask') this.#red.add(tool);
    return this.#red.has(tool);
  }

  /**
   * Notes each listed tool's annotations and marks the red ones for the client, on a copy: the
   * pins were computed on the server's own list, so the mark is never seen as a change.
   */
  mark(result: Record<string, unknown>): Record<string, unknown> {
    const listed = listedTools(result);
    if (!listed || !Array.isArray(result.tools)) return result;
    for (const tool of listed.tools) {
      const hints = (tool as { annotations?: unknown }).annotations as
        Record<string, unknown> | null | undefined;
      if (hints !== null && typeof hints === 'object')
        this.#hints.set(tool.name, {
          readOnlyHint: hints.readOnlyHint === true,
          destructiveHint: hints.destructiveHint === true,
        });
      else this.#hints.delete(tool.name);
    }
    const tools = (result.tools as Record<string, unknown>[]).map((tool) => {
      if (typeof tool.name !== 'string' || !this.isRed(tool.name)) return tool;
      const meta = tool._meta !== null && typeof tool._meta === 'object' ? tool._meta : {};
      return { ...tool, _meta: { ...meta, [REQUIRES_USER]: true } };
    });
    return { ...result, tools };
  }
}
