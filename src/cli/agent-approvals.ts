import { createInterface } from 'node:readline/promises';
import type { ElicitAnswer, ElicitHandler, Elicitation } from '../agent/mcp-toolbox.js';
import { usageError } from './cli-error.js';

/** Scopes `--yes-for` may pre-approve. Only the end-of-session apply, for now. */
const YES_SCOPES = ['apply'] as const;
type YesScope = (typeof YES_SCOPES)[number];

/** One approval question and how it was answered, for the transcript. */
export interface ApprovalRecord {
  server: string;
  phase: 'run' | 'apply';
  decision: 'approve' | 'decline';
  by: 'tty' | '--yes-for apply' | 'no tty';
}

/** `--yes-for apply[,…]`: each scope checked. */
export function yesForScopes(value: string | undefined): Set<YesScope> {
  const scopes = new Set<YesScope>();
  for (const scope of (value ?? '').split(',').map((s) => s.trim())) {
    if (scope === '') continue;
    if (!(YES_SCOPES as readonly string[]).includes(scope))
      throw usageError(`--yes-for ${scope}: the scopes are ${YES_SCOPES.join(', ')}`);
    scopes.add(scope as YesScope);
  }
  return scopes;
}

/**
 * Answers the servers' approval questions for the user: a scope pre-approved with --yes-for
 * is approved and recorded; anything else is asked on the TTY (y/N, the card's text shown);
 * with no TTY nobody can answer, so it is declined. Never approves on the model's behalf.
 */
export function agentApprover(options: {
  yesFor: ReadonlySet<YesScope>;
  phase: () => 'run' | 'apply';
  record: (entry: ApprovalRecord) => void;
  signal?: AbortSignal;
}): ElicitHandler {
  return async (request) => {
    const phase = options.phase();
    const answer = (decision: 'approve' | 'decline', by: ApprovalRecord['by']): ElicitAnswer => {
      options.record({ server: request.server, phase, decision, by });
      const content = decision === 'approve' ? approvalContent(request) : undefined;
      return content ? { action: 'accept', content } : { action: 'decline' };
    };
    if (phase === 'apply' && options.yesFor.has('apply'))
      return answer('approve', '--yes-for apply');
    if (!process.stdin.isTTY) return answer('decline', 'no tty');
    const tty = createInterface({ input: process.stdin, output: process.stderr });
    try {
      const reply = await tty.question(
        `\n${request.message}\n\n${request.server} asks: approve? [y/N] `,
        options.signal ? { signal: options.signal } : {},
      );
      return answer(/^y(es)?$/i.test(reply.trim()) ? 'approve' : 'decline', 'tty');
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
