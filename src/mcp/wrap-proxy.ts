import {
  isJSONRPCErrorResponse,
  isJSONRPCNotification,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  type JSONRPCMessage,
  type JSONRPCRequest,
  type RequestId,
  type Transport,
} from '@modelcontextprotocol/server';
import { audit } from '../audit/audit-log.js';
import type { Logger } from './logger.js';
import type { Upstream } from './wrap-box-server.js';
import type { ToolPolicy } from './wrap-policy.js';
import type { ToolGuard } from './wrap-tool-guard.js';
import { canonicalJson, listedTools, sha256, type ToolChanges } from './wrap-tool-pins.js';

/** JSON-RPC error code of a tool list held back because it changed (server-defined range). */
export const TOOLS_CHANGED = -32010;
const INTERNAL_ERROR = -32603;

export interface WrapProxyOptions {
  /** The client: our stdin and stdout. */
  downstream: Transport;
  /** The wrapped server, in its box. */
  upstream: Upstream;
  policy: ToolPolicy;
  guard: ToolGuard;
  log: Logger;
  /** How to accept a changed tool list, quoted in the error the client gets. */
  acceptCommand: string;
  /** The wrapped server's command, named in the audit log. */
  argv: readonly string[];
}

interface Pending {
  method: string;
  tool?: string;
  argumentsSha256?: string;
  firstPage?: boolean;
  started: number;
}

/**
 * The wrap proxy: a message pump between the client and the wrapped server. Every message is
 * passed on as it is, in the order it came, in both directions — requests, responses and
 * notifications, the server's own requests (elicitation, sampling, roots) and their answers
 * included — except where policy steps in: a denied tools/call is answered here and never
 * reaches the server, and a tools/list answer with tools that changed since they were pinned is
 * replaced by an error naming them. Messages from the server are handled one at a time, in
 * order, because reviewing a tool list may wait on the pin file.
 */
export class WrapProxy {
  readonly #options: WrapProxyOptions;
  readonly #pending = new Map<string, Pending>();
  #fromServer: Promise<void> = Promise.resolve();

  constructor(options: WrapProxyOptions) {
    this.#options = options;
    options.downstream.onmessage = (message) => this.#fromClient(message);
    options.upstream.onmessage = (message) => {
      this.#fromServer = this.#fromServer
        .then(() => this.#serverMessage(message))
        .catch((error: unknown) => options.log.error(`wrap: ${(error as Error).message}`));
    };
  }

  /** After the server is gone: every request still waiting gets an answer, not a hang. */
  async failPending(reason: string): Promise<void> {
    await this.#fromServer;
    for (const [key, pending] of this.#pending) {
      this.#pending.delete(key);
      if (pending.method === 'tools/call')
        this.#audit(pending, 'allowed', { isError: true, error: reason });
      await this.#toClient({
        jsonrpc: '2.0',
        id: JSON.parse(key.slice(2)) as RequestId,
        error: { code: INTERNAL_ERROR, message: reason },
      });
    }
  }

  #fromClient(message: JSONRPCMessage): void {
    const { upstream } = this.#options;
    if (isJSONRPCRequest(message)) {
      if (message.method === 'tools/call' && this.#refuseCall(message)) return;
      this.#pending.set(keyOf(message.id), this.#describe(message));
    } else if (isJSONRPCNotification(message) && message.method === 'notifications/cancelled') {
      // A cancel for a call answered here (denied) must not reach the server, which never saw it.
      const id = (message.params as { requestId?: RequestId } | undefined)?.requestId;
      if (id === undefined || !this.#pending.has(keyOf(id))) return;
    }
    upstream.send(message);
  }

  #describe(request: JSONRPCRequest): Pending {
    const params = request.params as Record<string, unknown> | undefined;
    const started = performance.now();
    if (request.method === 'tools/list')
      return { method: request.method, firstPage: params?.cursor === undefined, started };
    if (request.method === 'tools/call')
      return {
        method: request.method,
        tool: toolName(params),
        argumentsSha256: sha256(canonicalJson(params?.arguments ?? null)),
        started,
      };
    return { method: request.method, started };
  }

  /** Answers a tools/call that policy or the tool guard denies; true when it did. */
  #refuseCall(request: JSONRPCRequest): boolean {
    const { policy, guard, acceptCommand } = this.#options;
    const params = request.params as Record<string, unknown> | undefined;
    const tool = toolName(params);
    const reason = guard.blocked(tool)
      ? `tool "${tool}" changed since you accepted this server's tools (a possible rug pull), so IronClaw blocks it; review and accept the new list with: ${acceptCommand}`
      : policy.decide(tool) === 'deny'
        ? `the wrap policy denies tool "${tool}"; the call did not reach the server. Do not retry it: ask the user if it is needed`
        : undefined;
    if (reason === undefined) return false;
    this.#audit(
      {
        method: 'tools/call',
        tool,
        argumentsSha256: sha256(canonicalJson(params?.arguments ?? null)),
        started: performance.now(),
      },
      'denied',
      { isError: true, reason },
    );
    void this.#toClient({
      jsonrpc: '2.0',
      id: request.id,
      result: { content: [{ type: 'text', text: `IronClaw: ${reason}` }], isError: true },
    });
    return true;
  }

  async #serverMessage(message: JSONRPCMessage): Promise<void> {
    if (!isJSONRPCResultResponse(message) && !isJSONRPCErrorResponse(message)) {
      await this.#toClient(message);
      return;
    }
    const id = message.id;
    const pending = id === undefined ? undefined : this.#pending.get(keyOf(id));
    if (id === undefined || pending === undefined) {
      // An answer to nothing the client asked: the server is confused or hostile; drop it.
      this.#options.log.warn(
        `wrapped server answered a request it was never sent (id ${JSON.stringify(id)}); dropped`,
      );
      return;
    }
    this.#pending.delete(keyOf(id));
    if (pending.method === 'tools/call') {
      this.#audit(
        pending,
        'allowed',
        isJSONRPCErrorResponse(message)
          ? { isError: true, error: message.error.message }
          : { isError: (message.result as { isError?: unknown }).isError === true },
      );
    }
    if (pending.method === 'tools/list' && isJSONRPCResultResponse(message)) {
      const changes = await this.#reviewTools(message.result, pending.firstPage ?? true);
      if (changes) {
        await this.#toClient({ jsonrpc: '2.0', id, error: this.#changedError(changes) });
        return;
      }
    }
    await this.#toClient(message);
  }

  async #reviewTools(result: unknown, first: boolean): Promise<ToolChanges | undefined> {
    const listed = listedTools(result);
    if (!listed) {
      this.#options.log.warn(
        'wrapped server answered tools/list with something that is not a tool list',
      );
      return undefined;
    }
    return this.#options.guard.review(listed.tools, { first, last: !listed.more });
  }

  #changedError(changes: ToolChanges): { code: number; message: string; data: unknown } {
    const parts = [
      changes.changed.length > 0 ? `changed: ${changes.changed.join(', ')}` : '',
      changes.added.length > 0 ? `new: ${changes.added.join(', ')}` : '',
    ].filter(Boolean);
    const message = `IronClaw held back the wrapped server's tool list: its tools differ from the ones you accepted (${parts.join('; ')}). Tool descriptions and schemas reach the model as instructions, so a silent change can be a rug pull. Review and accept the new list with: ${this.#options.acceptCommand}`;
    this.#options.log.warn(message);
    return {
      code: TOOLS_CHANGED,
      message,
      data: { changed: changes.changed, added: changes.added },
    };
  }

  #audit(
    pending: Pending,
    decision: 'allowed' | 'denied',
    outcome: { isError: boolean; reason?: string; error?: string },
  ): void {
    const record = {
      event: 'tools/call',
      at: new Date().toISOString(),
      tool: pending.tool,
      argumentsSha256: pending.argumentsSha256,
      decision,
      ...outcome,
      durationMs: Math.round(performance.now() - pending.started),
    };
    // On stderr, one JSON object per line after a fixed marker, and in the audit log.
    this.#options.log.info(`audit ${JSON.stringify(record)}`);
    const { event: _event, at: _at, ...call } = record;
    audit({ event: 'mcp-tool-call', server: this.#options.argv.slice(0, 64), ...call });
  }

  async #toClient(message: JSONRPCMessage): Promise<void> {
    try {
      await this.#options.downstream.send(message);
    } catch (error) {
      this.#options.log.debug(`wrap: cannot answer the client: ${(error as Error).message}`);
    }
  }
}

function toolName(params: Record<string, unknown> | undefined): string {
  return typeof params?.name === 'string' ? params.name : '';
}

/** Map key of a request id: 1 and "1" are different requests. */
function keyOf(id: RequestId): string {
  return `${typeof id === 'number' ? 'n' : 's'}:${JSON.stringify(id)}`;
}
