import { readFile } from 'node:fs/promises';
import * as z from 'zod/mini';
import { IronClawError } from '../core/errors.js';
import { formatIssues } from '../protocol/format-issues.js';

const ActionSchema = z.enum(['allow', 'deny', 'ask']);

export const WrapPolicySchema = z.strictObject({
  /** What a tool not named in `tools` gets; "allow" leaves it to the tool's annotations. */
  default: z.optional(ActionSchema),
  /** What a tool without annotations (or never listed) gets when `default` is "allow". */
  unannotated: z.optional(z.enum(['allow', 'ask'])),
  /** Per tool name: allow, deny, or ask a person every call. */
  tools: z.optional(z.record(z.string().check(z.minLength(1)), ActionSchema)),
});
export type WrapPolicy = z.infer<typeof WrapPolicySchema>;

/** "ask": the call waits for a person's yes (the approval cliff) before it reaches the server. */
export type ToolAction = 'allow' | 'deny' | 'ask';

/** The hints a tools/list gave for one tool (MCP ToolAnnotations); untrusted, as the server says. */
export interface ToolHints {
  readOnlyHint?: boolean | undefined;
  destructiveHint?: boolean | undefined;
}

/** A checked policy: what every tool gets. */
export interface ToolPolicy {
  /** `hints` undefined: the tool was listed without annotations, or never listed. */
  decide(tool: string, hints: ToolHints | undefined): ToolAction;
}

const MAX_POLICY_BYTES = 1024 * 1024;

/**
 * A tool named in the policy gets what it says (the user decided). Otherwise, with the default
 * "allow", the server's own annotations classify it: read-only is green and runs at once, an
 * explicit destructiveHint is red and asks, and a tool without annotations gets `unannotated`.
 * A server that lies about a tool is still in its box; the hints only decide what asks first.
 */
export function toolPolicy(policy: WrapPolicy): ToolPolicy {
  const tools = new Map(Object.entries(policy.tools ?? {}));
  const fallback = policy.default ?? 'allow';
  const unannotated = policy.unannotated ?? 'allow';
  return {
    decide(tool, hints) {
      const named = tools.get(tool);
      if (named !== undefined) return named;
      if (fallback !== 'allow') return fallback;
      if (hints === undefined) return unannotated;
      if (hints.readOnlyHint === true) return 'allow';
      return hints.destructiveHint === true ? 'ask' : 'allow';
    },
  };
}

/** The policy when none is given: ask for destructive tools, allow the rest (still in its box). */
export const DEFAULT_POLICY: ToolPolicy = toolPolicy({});

/** Reads a policy file: `{ "default": "allow", "unannotated": "ask", "tools": { "write_file": "deny" } }`. */
export async function loadToolPolicy(path: string): Promise<ToolPolicy> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new IronClawError(
      'INVALID_ARGUMENT',
      `cannot read policy file ${path}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  if (Buffer.byteLength(text) > MAX_POLICY_BYTES)
    throw new IronClawError(
      'INVALID_ARGUMENT',
      `policy file ${path} is larger than ${MAX_POLICY_BYTES} bytes`,
    );
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new IronClawError(
      'INVALID_ARGUMENT',
      `policy file ${path} is not JSON: ${(error as Error).message}`,
    );
  }
  const parsed = WrapPolicySchema.safeParse(value);
  if (!parsed.success)
    throw new IronClawError(
      'INVALID_ARGUMENT',
      `policy file ${path} is not a valid wrap policy (${formatIssues(parsed.error)}); expected {"default": "allow"|"deny"|"ask", "unannotated": "allow"|"ask", "tools": {"<name>": "allow"|"deny"|"ask"}}`,
    );
  return toolPolicy(parsed.data);
}
