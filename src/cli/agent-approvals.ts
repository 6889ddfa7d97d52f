import { createInterface } from 'node:readline/promises';
import type {
  AskedAction,
  ElicitAnswer,
  ElicitHandler,
  Elicitation,
} from '../agent/mcp-toolbox.js';
import { usageError } from './cli-error.js';

/** The forms of `--yes-for` scopes, as the help and the refusal of an unknown one list them. */
export const YES_SCOPE_FORMS = ['apply', 'egress:HOST', 'tool:SERVER/TOOL'] as const;

/** One approval question and how it was answered, for the transcript. */
export interface ApprovalRecord {
  server: string;
  phase: 'run' | 'apply';
  /** What was asked about, when the server named it. */
  action?: AskedAction;
  decision: 'approve' | 'decline';
  by: string;
}

/**
 * `--yes-for SCOPE[,SCOPE…]`, each checked: `apply` (the diff at the end), `egress:HOST` (a
 * connection to HOST, any port, from a sandbox of the session), `tool:SERVER/TOOL` (a red tool
 * of a wrapped server of the configuration). A wrapped server must be one the session runs.
 */
export function yesForScopes(value: string | undefined, servers: readonly string[]): Set<string> {
  const scopes = new Set<string>();
  for (const raw of (value ?? '').split(',').map((s) => s.trim())) {
    if (raw === '') continue;
    const scope = raw.startsWith('egress:') ? raw.toLowerCase() : raw;
    const tool = /^tool:([^/]+)\/([A-Za-z0-9_.-]{1,128})$/.exec(scope);
    if (tool && !servers.includes(tool[1] ?? ''))
      throw usageError(
        `--yes-for ${raw}: the session runs no server ${tool[1]}; the wrapped servers are ${servers.length ? servers.join(', ') : 'none (agent.servers in the configuration file)'}`,
      );
    const known =
      scope === 'apply' ||
      /^egress:(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(
        scope,
      ) ||
      /^egress:[0-9a-f:]+$/.test(scope) ||
      tool !== null;
    if (!known)
      throw usageError(
        `--yes-for ${raw}: the scopes are ${YES_SCOPE_FORMS.join(', ')} (e.g. egress:pypi.org, tool:github/create_issue)`,
      );
    scopes.add(scope);
  }
  return scopes;
}

/** The pre-approved scope that covers a question, if one does. */
function coveringScope(
  yesFor: ReadonlySet<string>,
  request: Elicitation,
  phase: 'run' | 'apply',
): string | undefined {
  const { action } = request;
  const scope =
    phase === 'apply'
      ? 'apply'
      : action?.kind === 'egress'
        ? `egress:${action.host.toLowerCase()}`
        : action?.kind === 'tool'
          ? `tool:${request.server}/${action.tool}`
          : undefined;
  return scope !== undefined && yesFor.has(scope) ? scope : undefined;
}

/**
 * Answers the servers' approval questions for the user: a scope pre-approved with --yes-for
 * is approved and recorded; anything else is asked on the TTY (y/N, default no, the card's text
 * shown); with no TTY nobody can answer, so it is declined, never waited on. Never approves on
 * the model's behalf.
 */
export function agentApprover(options: {
  yesFor: ReadonlySet<string>;
  phase: () => 'run' | 'apply';
  record: (entry: ApprovalRecord) => void;
  signal?: AbortSignal;
}): ElicitHandler {
  return async (request) => {
    const phase = options.phase();
    const answer = (decision: 'approve' | 'decline', by: string): ElicitAnswer => {
      options.record({
        server: request.server,
        phase,
        ...(request.action ? { action: request.action } : {}),
        decision,
        by,
      });
      const content = decision === 'approve' ? approvalContent(request) : undefined;
      return content ? { action: 'accept', content } : { action: 'decline' };
    };
    const scope = coveringScope(options.yesFor, request, phase);
    if (scope !== undefined) return answer('approve', `--yes-for ${scope}`);
    if (!process.stdin.isTTY) return answer('decline', 'no tty');
    const signals = [options.signal, request.signal].filter((s) => s !== undefined);
    const tty = createInterface({ input: process.stdin, output: process.stderr });
    try {
      const reply = await tty.question(
        `\n${request.message}\n\n${request.server} asks: approve? [y/N] `,
        signals.length ? { signal: AbortSignal.any(signals) } : {},
      );
      return answer(/^y(es)?$/i.test(reply.trim()) ? 'approve' : 'decline', 'tty');
    } catch (error) {
      // The server stopped waiting (or the session ended): no answer is a no.
      if (signals.some((s) => s.aborted)) return answer('decline', 'tty (no answer in time)');
      throw error;
    } finally {
      tty.close();
    }
  };
}

/**
 * The form of an approval filled as "approve, this once": a field offering "approve" takes it,
 * a scope takes "once", others their default. A form with a required field this cannot fill
 * is declined rather than guessed.
 */
function approvalContent(request: Elicitation): Record<string, string> | undefined {
  const properties = (request.requestedSchema.properties ?? {}) as Record<
    string,
    { enum?: unknown[]; default?: unknown }
  >;
  const required = (request.requestedSchema.required ?? []) as string[];
  const content: Record<string, string> = {};
  for (const [name, field] of Object.entries(properties)) {
    if (field.enum?.includes('approve')) content[name] = 'approve';
    else if (field.enum?.includes('once')) content[name] = 'once';
    else if (typeof field.default === 'string') content[name] = field.default;
  }
  return required.every((name) => name in content) ? content : undefined;
}
