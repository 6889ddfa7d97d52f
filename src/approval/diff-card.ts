import type { RedAction } from './red-action.js';
import type { Scope } from '../protocol/approval-api.js';

/**
 * What a person sees before deciding: what will change, in words and as a diff (the files; the
 * host and port; the tool and its arguments), which sandbox and which agent asked, and until when
 * an answer is taken.
 */
export interface DiffCard {
  /** The approval's id. */
  id: string;
  /** One line, e.g. "Apply 3 changes to /home/u/proj". */
  title: string;
  /** What will happen, in a sentence or two. */
  words: string;
  /** The unified diff of the files, "host:port via CONNECT", or the tool and its JSON arguments. */
  diff: string;
  sandbox: string | undefined;
  /** Who asked, e.g. "ironclaw apply (pid 4242)" or an MCP client's name. */
  agent: string;
  action: RedAction;
  /** The scopes this action may be approved for. */
  scopes: Scope[];
  requestedAt: string;
  /** No answer by then is a deny. */
  expiresAt: string;
}

/** The longest diff a card carries; the rest is cut with a note (the CLI's diff has it all). */
const MAX_CARD_DIFF_CHARS = 64 * 1024;

export function cardText(
  action: RedAction,
  diff: string | undefined,
): Pick<DiffCard, 'title' | 'words' | 'diff'> {
  switch (action.kind) {
    case 'workspace-apply':
      return {
        title: `Apply ${action.changes} change${action.changes === 1 ? '' : 's'} to ${action.dir}`,
        words: `Sandbox ${action.sandbox} changed files in its /workspace. Approving writes exactly these changes into ${action.dir} on this machine; a file changed there meanwhile is refused.`,
        diff: cut(diff ?? ''),
      };
    case 'egress':
      return {
        title: `Connect to ${action.host}:${action.port}`,
        words: `Sandbox ${action.sandbox} asks to open a connection to ${action.host} port ${action.port}, which no --allow-net rule allows. Approving lets this connection through the sandbox's proxy.`,
        diff: `${action.host}:${action.port} via ${action.protocol === 'http' ? 'plain HTTP' : action.protocol === 'connect' ? 'HTTP CONNECT' : 'SOCKS5'}`,
      };
    case 'tool':
      return {
        title: `Call ${action.server}/${action.tool}`,
        words: `The wrapped MCP server ${action.server} would run its tool ${action.tool}, which may change or send things outside the sandbox. Approving runs it once with exactly these arguments.`,
        diff: cut(`${action.tool}(${JSON.stringify(action.arguments, null, 2)})`),
      };
  }
}

function cut(text: string): string {
  if (text.length <= MAX_CARD_DIFF_CHARS) return text;
  return `${text.slice(0, MAX_CARD_DIFF_CHARS)}\n… cut: ${text.length - MAX_CARD_DIFF_CHARS} more characters (ironclaw diff shows all)`;
}
