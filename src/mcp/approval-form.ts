import type { PendingApproval } from '../approval/approval-types.js';
import type { RedAction } from '../approval/red-action.js';
import { SCOPES, type Scope } from '../protocol/approval-api.js';

/**
 * Key, in an elicitation's `_meta`, of what is asked about (kind, host and port, or tool): a
 * client that pre-approves by scope (`ironclaw agent --yes-for`) matches it without reading the
 * card's prose. It names nothing the card does not show.
 */
const ACTION_META_KEY = 'ironclaw/action';

/** The diff card as an elicitation form: the card's text, a decision and a scope. */
export function approvalForm(pending: PendingApproval, approveMeans: string) {
  const { card } = pending;
  return {
    message: `${card.title}\n\n${card.words}\n\n${card.diff}`,
    requestedSchema: {
      type: 'object' as const,
      properties: {
        decision: {
          type: 'string' as const,
          title: 'Decision',
          enum: ['approve', 'deny'],
          description: `approve ${approveMeans}; deny does not`,
        },
        scope: {
          type: 'string' as const,
          title: 'Remember',
          enum: [...card.scopes],
          default: 'once',
        },
      },
      required: ['decision'],
    },
    _meta: { [ACTION_META_KEY]: actionSummary(card.action) },
  };
}

/** What a pre-approval scope is matched against: the action's kind and its target. */
function actionSummary(action: RedAction): Record<string, unknown> {
  switch (action.kind) {
    case 'egress':
      return { kind: 'egress', host: action.host, port: action.port };
    case 'tool':
      return { kind: 'tool', tool: action.tool };
    case 'workspace-apply':
      return { kind: 'workspace-apply' };
  }
}

export function scopeOf(value: unknown): Scope {
  return SCOPES.find((scope) => scope === value) ?? 'once';
}
