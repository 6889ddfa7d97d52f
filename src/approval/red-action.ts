import { createHash } from 'node:crypto';

/**
 * An action that crosses back from a disposable box into the user's world, and so needs a
 * person's yes (the approval cliff): changed files going back to the project, a connection to a
 * host no rule allows, a call of a wrapped tool that can destroy or send.
 */
export type RedAction =
  | {
      kind: 'workspace-apply';
      sandbox: string;
      /** The host directory written to. */
      dir: string;
      /** The digest of exactly the diff shown (core/workspace-diff's changesDigest). */
      digest: string;
      changes: number;
    }
  | {
      kind: 'egress';
      sandbox: string;
      host: string;
      port: number;
      protocol: 'http' | 'connect' | 'socks5';
    }
  | {
      kind: 'tool';
      sandbox?: string | undefined;
      /** The wrapped server's name, as the client sees it. */
      server: string;
      tool: string;
      arguments: Record<string, unknown>;
    };

/**
 * A digest of the whole action, arguments included, in a canonical form (keys sorted at every
 * depth): an approval token names it, so an accept given for one action is worthless for any
 * other, however small the difference.
 */
export function actionDigest(action: RedAction): string {
  return createHash('sha256').update(canonicalJson(action)).digest('hex');
}

/**
 * What a scoped approval ("for this sandbox", "always for this project") covers: the action
 * without its particulars. An exact identity, never a prefix: one host and port, one tool of one
 * server, one directory.
 */
export function actionKey(action: RedAction): string {
  switch (action.kind) {
    case 'workspace-apply':
      return `apply ${action.dir}`;
    case 'egress':
      return `egress ${action.host}:${action.port}`;
    case 'tool':
      return `tool ${action.server}/${action.tool}`;
  }
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
