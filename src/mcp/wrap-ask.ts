import { randomBytes } from 'node:crypto';
import {
  CLIENT_CAPABILITIES_META_KEY,
  inputRequired,
  inputResponse,
  isJSONRPCErrorResponse,
  isJSONRPCResultResponse,
  type JSONRPCMessage,
  type JSONRPCRequest,
  PROTOCOL_VERSION_META_KEY,
} from '@modelcontextprotocol/server';
import type { ApprovalBroker } from '../approval/approval-broker.js';
import type { PendingApproval } from '../approval/approval-types.js';
import { tokenId } from '../approval/approval-token.js';
import type { RedAction } from '../approval/red-action.js';
import type { Scope } from '../protocol/approval-api.js';
import { approvalForm, scopeOf } from './approval-form.js';

const TOOL_APPROVE = 'runs the tool once with exactly these arguments';
/** Key of the approval in an input-required result's inputRequests (and the retry's answers). */
const ANSWER_KEY = 'approval';
/** The first protocol revision that asks by input-required results instead of pushed requests. */
const INPUT_REQUIRED_ERA = '2026-07-28';

/** What becomes of a red tools/call once the person was asked. */
export type AskOutcome =
  /** Approved: pass the call on, with these params (the approval fields stripped). */
  | { kind: 'relay'; params: Record<string, unknown> }
  /** Not approved: answer the call with this reason; it never reaches the server. */
  | { kind: 'refuse'; reason: string }
  /** A 2026-07-28 client: answer with this input-required result; its retry carries the answer. */
  | { kind: 'answer'; result: Record<string, unknown> };

export interface WrapAskOptions {
  /** The wrap's approval broker; undefined when it could not be opened (see `unavailable`). */
  approvals: ApprovalBroker | undefined;
  unavailable?: string | undefined;
  /** The wrapped server as approvals name it (its command line). */
  server: string;
  sandbox?: string | undefined;
  /** Sends our own request (an elicitation) or notification to the client. */
  toClient(message: JSONRPCMessage): Promise<void>;
}

/**
 * The approval cliff for a wrap's red tools: it opens an approval in the broker and asks the
 * client's user, in the way the client's protocol era understands — a pushed
 * elicitation/create for a 2025-era client that declared elicitation (its answer is ours and is
 * never relayed), or an input-required result for a 2026-07-28 client, whose retried call
 * carries the answer and the token. Every answer goes through the broker with the action as the
 * call now stands, so a forged, replayed or changed-arguments answer is refused and audited.
 */
export class WrapAsker {
  readonly #options: WrapAskOptions;
  /** Our request ids: random, so a wrapped server cannot pick one and steal the answer. */
  readonly #prefix = `ironclaw-approval-${randomBytes(8).toString('hex')}-`;
  #next = 0;
  readonly #waiting = new Map<string, (message: JSONRPCMessage) => void>();
  #clientElicits = false;
  #protocolVersion: string | undefined;
  #client = 'an MCP client';

  constructor(options: WrapAskOptions) {
    this.#options = options;
  }

  /** The client's initialize request: what it can do, and who it is. */
  seeInitialize(params: unknown): void {
    const { capabilities, clientInfo } = (params ?? {}) as {
      capabilities?: { elicitation?: unknown };
      clientInfo?: { name?: unknown; version?: unknown };
    };
    this.#clientElicits = capabilities?.elicitation !== undefined;
    const version = typeof clientInfo?.version === 'string' ? clientInfo.version.slice(0, 40) : '';
    if (typeof clientInfo?.name === 'string')
      this.#client = `MCP client ${clientInfo.name.slice(0, 100)} ${version}`.trim();
  }

  /** The initialize result the server gave: the protocol version both ends agreed on. */
  seeInitializeResult(result: unknown): void {
    const version = (result as { protocolVersion?: unknown } | undefined)?.protocolVersion;
    if (typeof version === 'string') this.#protocolVersion = version;
  }

  /** A response of the client to one of our own requests: taken here, never relayed. */
  takeResponse(message: JSONRPCMessage): boolean {
    if (!isJSONRPCResultResponse(message) && !isJSONRPCErrorResponse(message)) return false;
    const id = message.id;
    if (typeof id !== 'string' || !id.startsWith(this.#prefix)) return false;
    const waiter = this.#waiting.get(id);
    this.#waiting.delete(id);
    waiter?.(message);
    return true;
  }

  /** Asks for a yes to a red tools/call; resolves to what the proxy does with the call. */
  async ask(request: JSONRPCRequest, signal: AbortSignal): Promise<AskOutcome> {
    const params = (request.params ?? {}) as Record<string, unknown>;
    const { inputResponses, requestState, ...rest } = params;
    const tool = typeof params.name === 'string' ? params.name : '';
    const action: RedAction = {
      kind: 'tool',
      sandbox: this.#options.sandbox,
      server: this.#options.server,
      tool,
      arguments: isRecord(params.arguments) ? params.arguments : {},
    };
    const { approvals } = this.#options;
    if (!approvals)
      return refuse(
        `tool "${tool}" needs a person's approval, but this wrap cannot ask for one (${this.#options.unavailable ?? 'no approval broker'}); the call did not reach the server`,
      );
    if (typeof requestState === 'string') {
      const response = inputResponse(inputResponses as never, ANSWER_KEY);
      const content = response.kind === 'elicit' ? response.content : undefined;
      return this.#answer(approvals, action, rest, {
        id: tokenId(requestState) ?? '',
        token: requestState,
        approve:
          response.kind === 'elicit' &&
          response.action === 'accept' &&
          content?.decision === 'approve',
        scope: scopeOf(content?.scope),
      });
    }
    const modern = this.#modern(params);
    const canAsk = modern ? this.#modernElicits(params) : this.#clientElicits;
    const { pending, result } = await approvals.open(action, {
      agent: this.#client,
      hasChannel: canAsk,
      signal,
    });
    if (pending === undefined) {
      const decided = await result;
      return decided.approved
        ? { kind: 'relay', params: rest }
        : refuse(
            canAsk
              ? decided.reason
              : `${decided.reason}. This client did not declare elicitation, so IronClaw cannot ask its user; the call did not reach the server`,
          );
    }
    if (!canAsk) {
      const decided = await result;
      return decided.approved ? { kind: 'relay', params: rest } : refuse(decided.reason);
    }
    if (modern)
      return {
        kind: 'answer',
        result: inputRequired({
          inputRequests: {
            [ANSWER_KEY]: inputRequired.elicit(approvalForm(pending, TOOL_APPROVE)),
          },
          requestState: pending.token,
        }) as unknown as Record<string, unknown>,
      };
    const reply = await Promise.race([
      this.#elicit(pending, signal),
      result.then((decided) => ({ decided })),
    ]);
    if ('decided' in reply) return refuse(reply.decided.reason);
    const answered = reply.result;
    const content = isRecord(answered?.content) ? answered.content : undefined;
    const outcome = await this.#answer(approvals, action, rest, {
      id: pending.card.id,
      token: pending.token,
      approve: answered?.action === 'accept' && content?.decision === 'approve',
      scope: scopeOf(content?.scope),
    });
    if (outcome.kind === 'relay') await result;
    return outcome;
  }

  async #answer(
    approvals: ApprovalBroker,
    action: RedAction & { kind: 'tool' },
    params: Record<string, unknown>,
    answer: { id: string; token: string; approve: boolean; scope: Scope },
  ): Promise<AskOutcome> {
    const outcome = approvals.answer({
      id: answer.id,
      token: answer.token,
      decision: answer.approve ? 'approve' : 'deny',
      scope: answer.scope,
      by: 'elicitation',
      action,
    });
    if (!outcome.ok)
      return refuse(
        `${outcome.message}; the call of tool "${action.tool}" did not reach the server`,
      );
    if (!answer.approve)
      return refuse(
        `the call of tool "${action.tool}" was declined by the user; do not retry; it did not reach the server`,
      );
    return { kind: 'relay', params };
  }

  /** Pushes elicitation/create to the client and waits for its answer (or the signal). */
  #elicit(
    pending: PendingApproval,
    signal: AbortSignal,
  ): Promise<{ result: Record<string, unknown> | undefined }> {
    const id = `${this.#prefix}${++this.#next}`;
    const answered = new Promise<{ result: Record<string, unknown> | undefined }>((resolve) => {
      this.#waiting.set(id, (message) =>
        resolve({
          result: isJSONRPCResultResponse(message) ? message.result : undefined,
        }),
      );
    });
    const gone = (): void => {
      // The approval ended without the client's answer: tell the client to stop asking.
      if (!this.#waiting.delete(id)) return;
      void this.#options.toClient({
        jsonrpc: '2.0',
        method: 'notifications/cancelled',
        params: { requestId: id, reason: 'the approval ended' },
      });
    };
    signal.addEventListener('abort', gone, { once: true });
    void this.#options.toClient({
      jsonrpc: '2.0',
      id,
      method: 'elicitation/create',
      params: { mode: 'form', ...approvalForm(pending, TOOL_APPROVE) },
    });
    return answered.finally(() => signal.removeEventListener('abort', gone));
  }

  /** Whether this call speaks the 2026-07-28 era (by the handshake, or the call's own _meta). */
  #modern(params: Record<string, unknown>): boolean {
    const meta = isRecord(params._meta) ? params._meta : {};
    const version = meta[PROTOCOL_VERSION_META_KEY] ?? this.#protocolVersion;
    return typeof version === 'string' && version >= INPUT_REQUIRED_ERA;
  }

  #modernElicits(params: Record<string, unknown>): boolean {
    const meta = isRecord(params._meta) ? params._meta : {};
    const capabilities = meta[CLIENT_CAPABILITIES_META_KEY];
    return (
      this.#clientElicits || (isRecord(capabilities) && capabilities.elicitation !== undefined)
    );
  }
}

function refuse(reason: string): AskOutcome {
  return { kind: 'refuse', reason };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
