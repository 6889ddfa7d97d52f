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
import type { ApprovalBroker } from '../approval/approval-broker.js';
import { auditAction } from '../audit/audit-trail.js';
import type { Logger } from './logger.js';
import type { Upstream } from './wrap-box-server.js';
import { type AskOutcome, WrapAsker } from './wrap-ask.js';
import { auditCall, type Pending } from './wrap-call-audit.js';
import { RedTools } from './wrap-red-tools.js';
import type { ToolPolicy } from './wrap-policy.js';
import type { ToolGuard } from './wrap-tool-guard.js';
import { canonicalJson, listedTools, sha256, type ToolChanges } from './wrap-tool-pins.js';

/** JSON-RPC error code of a tool list held back because it changed (server-defined range). */
export const TOOLS_CHANGED = -32010;
const INTERNAL_ERROR = -32603;
/** Cancelled requests remembered so their late answers are dropped quietly; older ones are warned of. */
const MAX_CANCELLED = 1024;

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
  /** The wrapped server's command, named in the audit store. */
  argv: readonly string[];
  /** The sandbox the wrapped server runs in, named in the audit store. */
  sandbox?: string | undefined;
  /** Asks a person before a red tool runs; undefined: red tools are refused, for `unavailable`. */
  approvals?: ApprovalBroker | undefined;
  /** Why there is no approval broker (the audit store could not be opened). */
  approvalsUnavailable?: string | undefined;
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
  /** Requests the client cancelled, oldest first, whose answer may still come. */
  readonly #cancelled = new Set<string>();
  #fromServer: Promise<void> = Promise.resolve();
  readonly #redTools: RedTools;
  /** Red calls waiting for a person's answer, so the client can cancel them. */
  readonly #asking = new Map<string, AbortController>();
  readonly #asker: WrapAsker;

  constructor(options: WrapProxyOptions) {
    this.#options = options;
    this.#redTools = new RedTools(options.policy);
    this.#asker = new WrapAsker({
      approvals: options.approvals,
      unavailable: options.approvalsUnavailable,
      server: options.argv.join(' ').slice(0, 500),
      sandbox: options.sandbox,
      toClient: (message) => this.#toClient(message),
    });
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
        auditCall(this.#options.log, pending, 'allowed', {
          outcome: 'error',
          isError: true,
          error: reason,
        });
      await this.#toClient({
        jsonrpc: '2.0',
        id: JSON.parse(key.slice(2)) as RequestId,
        error: { code: INTERNAL_ERROR, message: reason },
      });
    }
  }

  #fromClient(message: JSONRPCMessage): void {
    const { upstream } = this.#options;
    if (this.#asker.takeResponse(message)) return;
    if (isJSONRPCRequest(message)) {
      if (message.method === 'initialize') this.#asker.seeInitialize(message.params);
      if (message.method === 'tools/call') {
        if (this.#refuseCall(message)) return;
        if (this.#redTools.isRed(toolName(message.params))) {
          void this.#askFirst(message);
          return;
        }
      }
      this.#pending.set(keyOf(message.id), this.#describe(message));
    } else if (isJSONRPCNotification(message) && message.method === 'notifications/cancelled') {
      if (!this.#cancel(message.params)) return;
    }
    upstream.send(message);
  }

  /**
   * The client gave up on a request: the server should not answer it now (and the client would
   * ignore an answer), so it is settled here — a tools/call is audited as cancelled — and an
   * answer that comes anyway is dropped quietly. False when nothing is waiting for that id (a
   * call answered here, or already answered): then the server, which owes nothing, is not told.
   */
  #cancel(params: unknown): boolean {
    const { requestId, reason } = (params ?? {}) as { requestId?: unknown; reason?: unknown };
    if (typeof requestId !== 'string' && typeof requestId !== 'number') return false;
    const key = keyOf(requestId);
    const asking = this.#asking.get(key);
    if (asking) {
      // Still waiting for a person: the approval ends as a deny and the server never hears of it.
      asking.abort();
      return false;
    }
    const pending = this.#pending.get(key);
    if (pending === undefined) return false;
    this.#pending.delete(key);
    this.#cancelled.add(key);
    if (this.#cancelled.size > MAX_CANCELLED)
      this.#cancelled.delete(this.#cancelled.values().next().value ?? key);
    if (pending.method === 'tools/call')
      auditCall(this.#options.log, pending, 'allowed', {
        outcome: 'cancelled',
        isError: false,
        ...(typeof reason === 'string' ? { reason: reason.slice(0, 200) } : {}),
      });
    return true;
  }

  #describe(request: JSONRPCRequest): Pending {
    const params = request.params as Record<string, unknown> | undefined;
    const started = performance.now();
    if (request.method === 'tools/call') return this.#toolCall(params, started);
    return { method: request.method, started };
  }

  /** A tools/call, recorded in the audit store as requested before it goes anywhere. */
  #toolCall(request: unknown, started: number): Pending {
    const params = request as Record<string, unknown> | undefined;
    const tool = toolName(params);
    const argumentsSha256 = sha256(canonicalJson(params?.arguments ?? null));
    const audit = auditAction({
      kind: 'tool-call',
      sandbox: this.#options.sandbox,
      data: { server: this.#options.argv.slice(0, 64), tool, argumentsSha256 },
    });
    return { method: 'tools/call', tool, argumentsSha256, started, audit };
  }

  /** Answers a tools/call that policy or the tool guard denies; true when it did. */
  #refuseCall(request: JSONRPCRequest): boolean {
    const { policy, guard, acceptCommand } = this.#options;
    const params = request.params as Record<string, unknown> | undefined;
    const tool = toolName(params);
    const reason = guard.blocked(tool)
      ? `tool "${tool}" changed since you accepted this server's tools (a possible rug pull), so IronClaw blocks it; review and accept the new list with: ${acceptCommand}`
      : policy.decide(tool, this.#redTools.hints(tool)) === 'deny'
        ? `the wrap policy denies tool "${tool}"; the call did not reach the server. Do not retry it: ask the user if it is needed`
        : undefined;
    if (reason === undefined) return false;
    this.#refuse(request, reason);
    return true;
  }

  /** Answers a tools/call here, as an error result the model reads; audited as denied. */
  #refuse(request: JSONRPCRequest, reason: string): void {
    auditCall(this.#options.log, this.#toolCall(request.params, performance.now()), 'denied', {
      outcome: 'denied',
      isError: true,
      reason,
    });
    void this.#toClient({
      jsonrpc: '2.0',
      id: request.id,
      result: { content: [{ type: 'text', text: `IronClaw: ${reason}` }], isError: true },
    });
  }

  /** A red call: asked about first, then passed on, or answered here and never passed on. */
  async #askFirst(request: JSONRPCRequest): Promise<void> {
    const key = keyOf(request.id);
    const controller = new AbortController();
    this.#asking.set(key, controller);
    let outcome: AskOutcome;
    try {
      outcome = await this.#asker.ask(request, controller.signal);
    } catch (error) {
      outcome = {
        kind: 'refuse',
        reason: `IronClaw could not ask for approval: ${(error as Error).message}`,
      };
    } finally {
      this.#asking.delete(key);
    }
    if (controller.signal.aborted) {
      auditCall(this.#options.log, this.#toolCall(request.params, performance.now()), 'denied', {
        outcome: 'cancelled',
        isError: false,
        reason: 'cancelled by the client while waiting for approval',
      });
      return;
    }
    if (outcome.kind === 'answer') {
      await this.#toClient({ jsonrpc: '2.0', id: request.id, result: outcome.result });
      return;
    }
    if (outcome.kind === 'refuse') {
      this.#refuse(request, outcome.reason);
      return;
    }
    const approved = { ...request, params: outcome.params };
    const pending = this.#describe(approved);
    this.#pending.set(key, pending);
    try {
      this.#options.upstream.send(approved);
    } catch (error) {
      // The server went away while the person was deciding: answer, never crash the wrap.
      this.#pending.delete(key);
      const reason = `the wrapped server is gone: ${(error as Error).message}`;
      auditCall(this.#options.log, pending, 'allowed', {
        outcome: 'error',
        isError: true,
        error: reason,
      });
      await this.#toClient({
        jsonrpc: '2.0',
        id: request.id,
        error: { code: INTERNAL_ERROR, message: reason },
      });
    }
  }

  async #serverMessage(message: JSONRPCMessage): Promise<void> {
    if (!isJSONRPCResultResponse(message) && !isJSONRPCErrorResponse(message)) {
      await this.#toClient(message);
      return;
    }
    const id = message.id;
    const pending = id === undefined ? undefined : this.#pending.get(keyOf(id));
    if (id !== undefined && pending === undefined && this.#cancelled.delete(keyOf(id))) {
      this.#options.log.debug(
        `wrapped server answered cancelled request ${JSON.stringify(id)}; dropped`,
      );
      return;
    }
    if (id === undefined || pending === undefined) {
      // An answer to nothing the client asked: the server is confused or hostile; drop it.
      this.#options.log.warn(
        `wrapped server answered a request it was never sent (id ${JSON.stringify(id)}); dropped`,
      );
      return;
    }
    this.#pending.delete(keyOf(id));
    if (pending.method === 'initialize' && isJSONRPCResultResponse(message))
      this.#asker.seeInitializeResult(message.result);
    if (pending.method === 'tools/call') {
      auditCall(
        this.#options.log,
        pending,
        'allowed',
        isJSONRPCErrorResponse(message)
          ? { outcome: 'error', isError: true, error: message.error.message }
          : {
              outcome: 'answered',
              isError: (message.result as { isError?: unknown }).isError === true,
            },
      );
    }
    if (pending.method === 'tools/list' && isJSONRPCResultResponse(message)) {
      let changes: ToolChanges | undefined;
      try {
        changes = await this.#reviewTools(message.result);
      } catch (error) {
        // Fail closed, but answer: a list that could not be checked (the pin file cannot be
        // read or written) is not passed on, and the client is not left waiting.
        const why = `IronClaw could not check the wrapped server's tool list against its pins: ${(error as Error).message}`;
        this.#options.log.error(why);
        await this.#toClient({ jsonrpc: '2.0', id, error: { code: INTERNAL_ERROR, message: why } });
        return;
      }
      if (changes) {
        await this.#toClient({ jsonrpc: '2.0', id, error: this.#changedError(changes) });
        return;
      }
      await this.#toClient({ ...message, result: this.#redTools.mark(message.result) });
      return;
    }
    await this.#toClient(message);
  }

  async #reviewTools(result: unknown): Promise<ToolChanges | undefined> {
    const listed = listedTools(result);
    if (!listed) {
      this.#options.log.warn(
        'wrapped server answered tools/list with something that is not a tool list',
      );
      return undefined;
    }
    return this.#options.guard.review(listed.tools);
  }

  #changedError(changes: ToolChanges): { code: number; message: string; data: unknown } {
    const message = `IronClaw held back the wrapped server's tool list: tools you accepted have changed (changed: ${changes.changed.join(', ')}). Tool descriptions and schemas reach the model as instructions, and annotations decide what IronClaw asks before a call (destructiveHint), so a silent change can be a rug pull. Review and accept the new definitions with: ${this.#options.acceptCommand}`;
    this.#options.log.warn(message);
    return { code: TOOLS_CHANGED, message, data: { changed: changes.changed } };
  }

  async #toClient(message: JSONRPCMessage): Promise<void> {
    try {
      await this.#options.downstream.send(message);
    } catch (error) {
      this.#options.log.debug(`wrap: cannot answer the client: ${(error as Error).message}`);
    }
  }
}

function toolName(params: unknown): string {
  const name = (params as { name?: unknown } | undefined)?.name;
  return typeof name === 'string' ? name : '';
}

/** Map key of a request id: 1 and "1" are different requests. */
function keyOf(id: RequestId): string {
  return `${typeof id === 'number' ? 'n' : 's'}:${JSON.stringify(id)}`;
}
