import {
  CLIENT_CAPABILITIES_META_KEY,
  type CallToolResult,
  inputRequired,
  inputResponse,
  type McpServer,
  type ServerContext,
} from '@modelcontextprotocol/server';
import { realpath } from 'node:fs/promises';
import { relative, isAbsolute } from 'node:path';
import * as z from 'zod/mini';
import type { ApprovalBroker } from '../approval/approval-broker.js';
import { tokenId } from '../approval/approval-token.js';
import type { RedAction } from '../approval/red-action.js';
import { IronClawError } from '../core/errors.js';
import { renderDiff, type WorkspaceDiff } from '../core/workspace-diff.js';
import { SCOPES } from '../protocol/approval-api.js';
import { BoxWorkspace, copyWorkspaceIn } from '../runtime/box-workspace.js';
import type { Sandbox } from '../runtime/sandbox.js';
import { SandboxIdInput } from './schemas.js';
import { type ToolDeps, toolCall } from './tool-context.js';
import { toolOk } from './tool-result.js';
import { toolSchema } from './tool-schema.js';

/** Key of the client's answer in a retried call's inputResponses. */
const ANSWER_KEY = 'approval';
/** Clients that honour it ask their user for every call of such a tool. */
const REQUIRES_USER = { 'anthropic/requiresUserInteraction': true } as const;

const DiffInput = z.object({ sandboxId: SandboxIdInput });
const ApplyInput = z.object({
  sandboxId: SandboxIdInput,
  digest: z
    .string()
    .check(
      z.regex(/^[0-9a-f]{64}$/),
      z.describe('The digest workspace_diff returned: the approval is for exactly that diff.'),
    ),
});

/**
 * workspace_diff and workspace_apply: the round trip of a sandbox created with a workspace,
 * through the approval cliff. The apply asks the person, not the model: the client is sent an
 * elicitation (the 2026-07-28 input-required round trip, or a pushed elicitation/create for
 * 2025-era clients, which the SDK does from the same result), bound to a token only this
 * server can mint, for exactly this diff, once. A decline ends the call.
 */
export function registerWorkspaceTools(server: McpServer, deps: ToolDeps): void {
  const { sandboxes } = deps;
  server.registerTool(
    'workspace_diff',
    {
      title: 'Show what changed in a sandbox workspace',
      description:
        'What changed in the /workspace of a sandbox created with `workspace` (a host directory copied in): files added, modified, deleted, mode and type changes, a unified diff of text files and a summary of binary ones. Its digest is what workspace_apply needs.',
      inputSchema: toolSchema(DiffInput),
      outputSchema: toolSchema(
        z.object({
          digest: z.string(),
          dir: z.string(),
          summary: z.record(z.string(), z.number()),
          changes: z.number(),
        }),
      ),
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    (args, ctx) =>
      toolCall(deps, 'workspace_diff', async () => {
        const diff = await sandboxes.get(args.sandboxId).sandbox.workspaceDiff({
          signal: ctx.mcpReq.signal,
        });
        return toolOk(
          {
            digest: diff.digest,
            dir: diff.dir,
            summary: diff.summary,
            changes: diff.changes.length,
          },
          renderDiff(diff, { patches: true }),
        );
      }),
  );

  server.registerTool(
    'workspace_apply',
    {
      title: "Write a sandbox's workspace changes back to the host",
      description:
        "Writes the changes workspace_diff showed (give its digest) into the host directory the sandbox's workspace was copied from. The user is asked first and must approve; a decline or no answer writes nothing, and then do not retry. Files changed on the host since copy-in are refused, naming each.",
      inputSchema: toolSchema(ApplyInput),
      outputSchema: toolSchema(
        z.object({ applied: z.number(), kept: z.number(), dir: z.string() }),
      ),
      annotations: { readOnlyHint: false, destructiveHint: true, openWorldHint: false },
      _meta: REQUIRES_USER,
    },
    (args, ctx) =>
      toolCall(deps, 'workspace_apply', async () => {
        const approvals = needApprovals(deps.approvals);
        const { sandbox } = sandboxes.get(args.sandboxId);
        const diff = await sandbox.workspaceDiff({ signal: ctx.mcpReq.signal });
        if (diff.digest !== args.digest)
          throw new IronClawError(
            'WORKSPACE_CHANGED',
            `the workspace of sandbox ${sandbox.id} changed since that diff (now ${diff.digest}); nothing was written: call workspace_diff again and show the user the new diff`,
          );
        const action = applyAction(sandbox, diff);
        const state = ctx.mcpReq.requestState();
        if (typeof state === 'string')
          return answered(approvals, sandbox, diff, action, state, ctx);
        const { pending, result } = await approvals.open(action, {
          agent: clientName(server),
          diff: renderDiff(diff, { patches: true }),
          project: diff.dir,
          hasChannel: clientCanElicit(server, ctx),
        });
        if (pending === undefined) {
          const decided = await result;
          if (!decided.approved) throw new IronClawError('NOT_CONFIRMED', decided.reason);
          return applied(sandbox, diff, ctx, decided.reason);
        }
        if (!clientCanElicit(server, ctx)) {
          // Only a watcher (the dashboard) can answer: wait for it, within the expiry.
          const decided = await result;
          if (!decided.approved) throw new IronClawError('NOT_CONFIRMED', decided.reason);
          return applied(sandbox, diff, ctx, decided.reason);
        }
        const { card } = pending;
        return inputRequired({
          inputRequests: {
            [ANSWER_KEY]: inputRequired.elicit({
              message: `${card.title}\n\n${card.words}\n\n${card.diff}`,
              requestedSchema: {
                type: 'object',
                properties: {
                  decision: {
                    type: 'string',
                    title: 'Decision',
                    enum: ['approve', 'deny'],
                    description: 'approve writes exactly these changes; deny writes nothing',
                  },
                  scope: {
                    type: 'string',
                    title: 'Remember',
                    enum: [...card.scopes],
                    default: 'once',
                  },
                },
                required: ['decision'],
              },
            }),
          },
          requestState: pending.token,
        });
      }),
  );
}

/** The retried call: the client's answer, bound to the token it was given, decides. */
async function answered(
  approvals: ApprovalBroker,
  sandbox: Sandbox,
  diff: WorkspaceDiff,
  action: RedAction,
  token: string,
  ctx: ServerContext,
): Promise<CallToolResult> {
  const response = inputResponse(ctx.mcpReq.inputResponses, ANSWER_KEY);
  const content = response.kind === 'elicit' ? response.content : undefined;
  const approve =
    response.kind === 'elicit' && response.action === 'accept' && content?.decision === 'approve';
  const scope = SCOPES.find((s) => s === content?.scope) ?? 'once';
  const outcome = approvals.answer({
    id: tokenId(token) ?? '',
    token,
    decision: approve ? 'approve' : 'deny',
    scope,
    by: 'elicitation',
    action,
  });
  if (!outcome.ok) throw new IronClawError('NOT_CONFIRMED', outcome.message);
  if (!approve)
    throw new IronClawError(
      'NOT_CONFIRMED',
      `the user declined applying sandbox ${sandbox.id}'s changes to ${diff.dir}; nothing was written. Do not retry; ask the user what to change`,
    );
  return applied(sandbox, diff, ctx, `approved by the user (${scope})`);
}

async function applied(
  sandbox: Sandbox,
  diff: WorkspaceDiff,
  ctx: ServerContext,
  why: string,
): Promise<CallToolResult> {
  const report = await sandbox.workspaceApply(diff, { confirmed: true, signal: ctx.mcpReq.signal });
  const kept = report.kept.map((k) => `\nkept ${k.path}: ${k.reason}`).join('');
  return toolOk(
    { applied: report.applied.length, kept: report.kept.length, dir: diff.dir },
    `Applied ${report.applied.length} change(s) to ${diff.dir} (${why}).${kept}`,
  );
}

function applyAction(sandbox: Sandbox, diff: WorkspaceDiff): RedAction {
  return {
    kind: 'workspace-apply',
    sandbox: sandbox.id,
    dir: diff.dir,
    digest: diff.digest,
    changes: diff.changes.length,
  };
}

function needApprovals(approvals: ApprovalBroker | undefined): ApprovalBroker {
  if (!approvals)
    throw new IronClawError(
      'AUDIT_UNAVAILABLE',
      'this server cannot ask for approvals (its audit store could not be opened); nothing was written',
    );
  return approvals;
}

/** Whether the client said it can show the user an elicitation form (either protocol era). */
function clientCanElicit(server: McpServer, ctx: ServerContext): boolean {
  const legacy = server.server.getClientCapabilities();
  const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
  const modern = envelope?.[CLIENT_CAPABILITIES_META_KEY] as { elicitation?: unknown } | undefined;
  return legacy?.elicitation !== undefined || modern?.elicitation !== undefined;
}

function clientName(server: McpServer): string {
  const client = server.server.getClientVersion();
  return client ? `MCP client ${client.name} ${client.version}` : 'an MCP client';
}

/**
 * Copies a host directory into a new sandbox of the session, as its workspace. Only a directory
 * inside the server's workspace root (its working directory unless told) may be copied: a model
 * must not pull the user's other files (keys, dotfiles) into a box that may have egress.
 */
export async function copyWorkspaceFor(
  deps: ToolDeps,
  sandbox: Sandbox,
  dir: string,
  signal: AbortSignal,
): Promise<void> {
  try {
    const root = await realpath(deps.workspaceRoot ?? process.cwd());
    const real = await realpath(dir).catch(() => {
      throw new IronClawError('INVALID_ARGUMENT', `workspace ${dir} does not exist`);
    });
    const inside = relative(root, real);
    if (!isAbsolute(dir) || inside.startsWith('..') || isAbsolute(inside))
      throw new IronClawError(
        'INVALID_ARGUMENT',
        `workspace ${dir} is not an absolute path inside ${root}, the directory this server may copy from; start the server in (or with --workspace-root) the project directory`,
      );
    await copyWorkspaceIn(sandbox, await BoxWorkspace.prepare({ dir: real }), signal);
  } catch (error) {
    await deps.sandboxes.destroy(sandbox.id).catch(() => undefined);
    throw error;
  }
}
