/**
 * How far a yes reaches: this one action; the same action again in this sandbox; in this session
 * (the process that asked: a daemon, an MCP connection, an agent run); or always, for this
 * project, saved as an exact rule in the approvals file (approval-policy.ts).
 */
export const SCOPES = ['once', 'sandbox', 'session', 'always'] as const;
export type Scope = (typeof SCOPES)[number];

export function isScope(value: unknown): value is Scope {
  return typeof value === 'string' && (SCOPES as readonly string[]).includes(value);
}
