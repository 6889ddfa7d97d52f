import * as z from 'zod/mini';
import { DRIVERS } from '../core/isolation.js';
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
const Port = z.number().check(z.int(), z.gte(1), z.lte(65535));

export const PublishedPortSchema = z.object({
  boxPort: z.number(),
  hostPort: z.number(),
  address: z.string(),
  url: z.string(),
});

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
  /** The driver, instead of the daemon's default (such a sandbox never comes from the pool). */
  driver: z.optional(z.enum(DRIVERS)),
  /** Host paths bound into the box (absolute: the daemon's directory is not the client's). */
  mounts: z.optional(
    z
      .array(
        z.object({
          host: z.string().check(z.minLength(1), z.maxLength(4096)),
          guest: z.string().check(z.minLength(1), z.maxLength(4096)),
          readOnly: z.boolean(),
        }),
      )
      .check(z.maxLength(64)),
  ),
  /**
   * Ports to publish: 127.0.0.1:hostPort (or `address`) on the host forwards to a server on
   * 127.0.0.1:boxPort in the box, through the guest agent; hostPort 0 or absent: any free one.
   */
  ports: z.optional(
    z
      .array(
        z.object({
          boxPort: Port,
          hostPort: z.optional(z.number().check(z.int(), z.gte(0), z.lte(65535))),
          address: z.optional(z.string().check(z.minLength(1), z.maxLength(100))),
        }),
      )
      .check(z.maxLength(64)),
  ),
  /** Variables of every command the box runs. */
  env: z.optional(
    z.record(z.string().check(z.maxLength(128)), z.string().check(z.maxLength(131072))),
  ),
});
/**
 * While a create runs, the daemon may send `progress` events ({ message }): the steps of long
 * work it does for it (a first guest image build, a VM template boot), as the CLI shows them.
 */
export const CreateResultSchema = z.object({
  id: z.string(),
  isolation: IsolationSchema,
  fromPool: z.boolean(),
  ports: z.optional(z.array(PublishedPortSchema)),
});

export const SandboxExecParamsSchema = z.intersection(z.object(SandboxRef), ExecParamsSchema);
export const SandboxWriteParamsSchema = z.intersection(z.object(SandboxRef), WriteFileParamsSchema);
export const SandboxReadParamsSchema = z.extend(ReadFileParamsSchema, SandboxRef);
export const SandboxPathParamsSchema = z.extend(PathParamsSchema, SandboxRef);

export const SandboxSummarySchema = z.object({
  id: z.string(),
  createdAt: z.string(),
  /** When `create` handed it out: later than createdAt for a sandbox from the warm pool. */
  handedOutAt: z.optional(z.string()),
  isolation: IsolationSchema,
});
export const SandboxesResultSchema = z.object({
  sandboxes: z.array(SandboxSummarySchema),
  pool: z.object({ ready: z.number(), target: z.number() }),
  /**
   * What the daemon was started with, for a client whose own configuration now says otherwise:
   * the daemon would ignore it, so the client refuses rather than let that pass unsaid.
   */
  config: z.optional(
    z.object({ driver: z.enum(DRIVERS), defaultMemoryBytes: z.nullable(z.number()) }),
  ),
});

const SandboxStatsSchema = z.object({
  id: z.string(),
  driver: z.string(),
  /**
   * Who counted: the box's host cgroup (bwrap; gVisor, where it holds the whole sandbox, the
   * sentry's memory and host threads included) or the VM guest kernel's box cgroup.
   */
  countedBy: z.optional(z.enum(['host cgroup', 'guest cgroup'])),
  /** Absent, with `why`, for a box nothing counts (a host without cgroups). */
  stats: z.optional(
    z.object({
      memoryBytes: z.number(),
      memoryLimitBytes: z.nullable(z.number()),
      pids: z.number(),
      pidsLimit: z.nullable(z.number()),
      cpuSeconds: z.number(),
    }),
  ),
  why: z.optional(z.string()),
});

export const DAEMON_METHODS = {
  create: { params: CreateParamsSchema, result: CreateResultSchema },
  exec: { params: SandboxExecParamsSchema, result: ExecResultSchema },
  write_file: { params: SandboxWriteParamsSchema, result: WriteFileResultSchema },
  read_file: { params: SandboxReadParamsSchema, result: ReadFileResultSchema },
  list: { params: SandboxPathParamsSchema, result: ListResultSchema },
  stat: { params: SandboxPathParamsSchema, result: FileInfoSchema },
  destroy: { params: z.object(SandboxRef), result: z.object({}) },
  stats: {
    params: z.object({ id: z.optional(SandboxRef.id) }),
    result: z.object({ sandboxes: z.array(SandboxStatsSchema) }),
  },
  ports: {
    params: z.object(SandboxRef),
    result: z.object({ ports: z.array(PublishedPortSchema) }),
  },
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
