import type { McpToolbox } from './mcp-toolbox.js';
import { IronClawError } from '../core/errors.js';

/** A session's copy of the user's directory: the /workspace of one sandbox of IronClaw's server. */
export interface WorkspaceSession {
  sandboxId: string;
  dir: string;
}

/** What the review at the end of a session came to. */
export interface WorkspaceReview {
  changes: number;
  applied: boolean;
  /** The server's answer to the apply: what was written, or why nothing was. */
  answer: string;
}

/**
 * Creates the session's sandbox with `dir` copied into its /workspace. The server only copies
 * from inside its working directory, which the loop set to `dir`.
 */
export async function openWorkspace(
  tools: McpToolbox,
  dir: string,
  signal?: AbortSignal,
): Promise<WorkspaceSession> {
  const created = await tools.callOwn('sandbox_create', { workspace: dir }, signal);
  const sandboxId = created.data.sandboxId;
  if (created.isError || typeof sandboxId !== 'string')
    throw new IronClawError(
      'SANDBOX_START_FAILED',
      `cannot create the session's sandbox with ${dir} as its workspace: ${created.text}`,
    );
  return { sandboxId, dir };
}

/** Told to the model with the task: where the project is, and that it never applies itself. */
export function workspaceBrief(session: WorkspaceSession): string {
  return `The project is copied into /workspace of sandbox ${session.sandboxId}, made for this session: work there (sandbox_exec, the file tools, with sandboxId "${session.sandboxId}"). Nothing you change reaches the user's files until the user has seen the diff, which the loop shows after you finish; do not call workspace_apply yourself.`;
}

/**
 * The end of a session: the diff of the workspace, shown through `onDiff`, then workspace_apply,
 * which asks the user (the server's elicitation, answered by the loop's handler). A decline
 * writes nothing.
 */
export async function reviewWorkspace(
  tools: McpToolbox,
  session: WorkspaceSession,
  options: { onDiff: (diff: string) => void; signal?: AbortSignal },
): Promise<WorkspaceReview> {
  const { signal } = options;
  const diff = await tools.callOwn('workspace_diff', { sandboxId: session.sandboxId }, signal);
  const { digest, changes } = diff.data;
  if (diff.isError || typeof digest !== 'string' || typeof changes !== 'number')
    throw new IronClawError(
      'WORKSPACE_CHANGED',
      `cannot diff the workspace of sandbox ${session.sandboxId}: ${diff.text}`,
    );
  if (changes === 0) return { changes: 0, applied: false, answer: 'no changes' };
  options.onDiff(diff.text);
  const apply = await tools.callOwn(
    'workspace_apply',
    { sandboxId: session.sandboxId, digest },
    signal,
  );
  return { changes, applied: !apply.isError, answer: apply.text };
}
