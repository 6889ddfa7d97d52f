import * as z from 'zod/mini';

/**
 * How far a yes reaches: this one action; the same action again in this sandbox; in this session
 * (the process that asked: a daemon, an MCP connection, an agent run); or always, for this
 * project, saved as an exact rule in the approvals file.
 */
export const SCOPES = ['once', 'sandbox', 'session', 'always'] as const;
export type Scope = (typeof SCOPES)[number];

const Digest = z.string().check(z.regex(/^[0-9a-f]{64}$/));
const Id = z.string().check(z.maxLength(200));

/** The daemon's approval calls: a workspace apply asked for, answered, and then carried out. */
export const ApplyRequestParamsSchema = z.object({
  id: Id,
  /** The digest of the diff shown: the approval is for exactly it. */
  digest: Digest,
  /** Who asks, for the diff card and the audit record. */
  agent: z.string().check(z.maxLength(200)),
  /** The client answers through approval_answer itself (a terminal, or --yes). */
  channel: z.boolean(),
});

export const ApplyTicketSchema = z.object({
  title: z.string(),
  /** The pending approval; absent when it was decided at once (`denied`, or an earlier yes). */
  approval: z.optional(z.string()),
  expiresAt: z.optional(z.string()),
  /** Given only to a client that answers itself. */
  token: z.optional(z.string()),
  /** Why nobody could be asked: nothing will be applied. */
  denied: z.optional(z.string()),
});

export const ApprovalAnswerParamsSchema = z.object({
  approval: Id,
  token: z.string().check(z.maxLength(4096)),
  decision: z.enum(['approve', 'deny']),
  scope: z.enum(SCOPES),
  by: z.string().check(z.maxLength(100)),
});

export const ApprovalAnswerResultSchema = z.object({
  ok: z.boolean(),
  code: z.optional(z.string()),
  message: z.optional(z.string()),
});
