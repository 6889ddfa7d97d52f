import { readFile } from 'node:fs/promises';
import * as z from 'zod/mini';
import { IronClawError } from '../core/errors.js';
import { formatIssues } from '../protocol/format-issues.js';

/**
 * "ask" is part of the vocabulary (DESIGN.md: destructive calls pass the approval cliff) but the
 * cliff does not exist yet, so a policy that says "ask" is refused rather than read as allow or
 * deny: neither would be what its author meant.
 */
const ActionSchema = z.enum(['allow', 'deny', 'ask']);

export const WrapPolicySchema = z.strictObject({
  /** What a tool not named in `tools` gets. */
  default: z.optional(ActionSchema),
  /** Per tool name: allow or deny. */
  tools: z.optional(z.record(z.string().check(z.minLength(1)), ActionSchema)),
});
export type WrapPolicy = z.infer<typeof WrapPolicySchema>;

export type ToolAction = 'allow' | 'deny';

/** A checked policy: what every tool gets. */
export interface ToolPolicy {
  decide(tool: string): ToolAction;
}

const MAX_POLICY_BYTES = 1024 * 1024;

/** The policy when none is given: every tool allowed (the server is still in its box). */
export const ALLOW_ALL: ToolPolicy = { decide: () => 'allow' };

export function toolPolicy(policy: WrapPolicy, source: string): ToolPolicy {
  const asks = [
    ...(policy.default === 'ask' ? ['default'] : []),
    ...Object.entries(policy.tools ?? {})
      .filter(([, action]) => action === 'ask')
      .map(([name]) => `tools.${name}`),
  ];
  if (asks.length > 0)
    throw new IronClawError(
      'POLICY_UNENFORCEABLE',
      `${source}: "ask" (at ${asks.join(', ')}) is not available yet: it needs the approval cliff, which has not landed; use "allow" or "deny"`,
    );
  const tools = new Map(Object.entries(policy.tools ?? {}));
  const fallback = (policy.default ?? 'allow') as ToolAction;
  return { decide: (tool) => (tools.get(tool) as ToolAction | undefined) ?? fallback };
}

/** Reads a policy file: `{ "default": "allow", "tools": { "write_file": "deny" } }`. */
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
      `policy file ${path} is not a valid wrap policy (${formatIssues(parsed.error)}); expected {"default": "allow"|"deny", "tools": {"<name>": "allow"|"deny"}}`,
    );
  return toolPolicy(parsed.data, `policy file ${path}`);
}
