import * as z from 'zod/mini';
import {
  ExecParamsSchema,
  ExecResultSchema,
  FileInfoSchema,
  ListResultSchema,
  PathParamsSchema,
  ReadFileParamsSchema,
  ReadFileResultSchema,
  WriteFileParamsSchema,
  WriteFileResultSchema,
} from './guest-api.js';
import {
  ApplyRequestParamsSchema,
  ApplyTicketSchema,
  ApprovalAnswerParamsSchema,
  ApprovalAnswerResultSchema,
} from './approval-api.js';
import {
  ApplyReportSchema,
  WorkspaceApplyParamsSchema,
  WorkspaceDiffSchema,
  WorkspaceParamsSchema,
} from './workspace-api.js';

/** Methods the IronClaw daemon serves to the CLI on its Unix socket. */

const SandboxRef = { id: z.string().check(z.maxLength(200)) };
const PositiveInt = z.number().check(z.int(), z.positive());

const LimitsSchema = z.object({
  memoryBytes: z.optional(PositiveInt),
  pids: z.optional(PositiveInt),
});

export const IsolationSchema = z.record(z.string(), z.unknown());

export const CreateParamsSchema = z.object({
  id: z.optional(z.string().check(z.maxLength(200))),
  limits: z.optional(LimitsSchema),
  /** A host directory copied into /workspace, kept for workspace_diff and workspace_apply. */
  workspace: z.optional(WorkspaceParamsSchema),
  /** Network egress rules (`example.com`, `*.pypi.org`, `github.com:22`); none: no network. */
  allowNet: z.optional(z.array(z.string().check(z.maxLength(300))).check(z.maxLength(256))),
});
export const CreateResultSchema = z.object({
  id: z.string(),
  isolation: IsolationSchema,
  fromPool: z.boolean(),
});

export const SandboxExecParamsSchema = z.intersection(z.object(SandboxRef), ExecParamsSchema);
export const SandboxWriteParamsSchema = z.intersection(z.object(SandboxRef), WriteFileParamsSchema);
export const SandboxReadParamsSchema = z.extend(ReadFileParamsSchema, SandboxRef);
export const SandboxPathParamsSchema = z.extend(PathParamsSchema, SandboxRef);

export const SandboxSummarySchema = z.object({
  id: z.string(),
  createdAt: z.string(),
  isolation: IsolationSchema,
});
export const SandboxesResultSchema = z.object({
  sandboxes: z.array(SandboxSummarySchema),
  pool: z.object({ ready: z.number(), target: z.number() }),
});

export const DAEMON_METHODS = {
  create: { params: CreateParamsSchema, result: CreateResultSchema },
  exec: { params: SandboxExecParamsSchema, result: ExecResultSchema },
  write_file: { params: SandboxWriteParamsSchema, result: WriteFileResultSchema },
  read_file: { params: SandboxReadParamsSchema, result: ReadFileResultSchema },
  list: { params: SandboxPathParamsSchema, result: ListResultSchema },
  stat: { params: SandboxPathParamsSchema, result: FileInfoSchema },
  destroy: { params: z.object(SandboxRef), result: z.object({}) },
  sandboxes: { params: z.object({}), result: SandboxesResultSchema },
  shutdown: { params: z.object({}), result: z.object({}) },
  /** The dashboard's address, with its token; started on the first request. */
  dashboard: { params: z.object({}), result: z.object({ url: z.string() }) },
  workspace_diff: { params: z.object(SandboxRef), result: WorkspaceDiffSchema },
  /** Asks for approval of exactly the diff shown; the answer comes by approval_answer or the dashboard. */
  apply_request: { params: ApplyRequestParamsSchema, result: ApplyTicketSchema },
  approval_answer: { params: ApprovalAnswerParamsSchema, result: ApprovalAnswerResultSchema },
  /** Waits for the approval's answer, then writes the diff (after a yes, once). */
  workspace_apply: { params: WorkspaceApplyParamsSchema, result: ApplyReportSchema },
} as const;
