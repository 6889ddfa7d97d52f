import {
  isJSONRPCErrorResponse,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  type JSONRPCMessage,
} from '@modelcontextprotocol/server';
import { IronClawError } from '../core/errors.js';
import type { Upstream } from './wrap-box-server.js';
import {
  compareTools,
  type ListedTool,
  listedTools,
  readPins,
  toolDigests,
  writePins,
} from './wrap-tool-pins.js';

/** The protocol revision offered; servers answer with the newest they share. */
const PROTOCOL_VERSION = '2025-11-25';
const MAX_PAGES = 100;

/**
 * Every client capability a server may list tools for (server-everything adds tools for roots,
 * sampling, elicitation and tasks), so that the review sees the fullest list. They are declared,
 * not served: what the server asks while its tools are listed is refused.
 */
const REVIEW_CAPABILITIES = {
  roots: { listChanged: true },
  sampling: {},
  elicitation: { form: {}, url: {} },
  tasks: { requests: { sampling: { createMessage: {} }, elicitation: { create: {} } } },
};

/**
 * `wrap --accept-tools`: talks to the wrapped server as a client of its own (initialize, then
 * every page of tools/list), shows what changed against the pins, and pins what it was shown.
 * Pins of tools it was not shown are kept, never dropped: the server may list them only to
 * clients with other capabilities, and dropping them would make those tools new, and so
 * pinned unreviewed, on their next listing.
 * It is a separate, explicit run so that accepting is something the user does in a terminal,
 * never something a client or a model can trigger over the proxied connection.
 */
export async function acceptTools(
  upstream: Upstream,
  options: { pinPath: string; argv: readonly string[]; version: string; signal: AbortSignal },
): Promise<string> {
  let next = 0;
  const waiting = new Map<number, (message: JSONRPCMessage) => void>();
  upstream.onmessage = (message) => {
    if (isJSONRPCRequest(message)) {
      // This client serves none of the capabilities it declared: refuse what the server asks.
      upstream.send({
        jsonrpc: '2.0',
        id: message.id,
        error: { code: -32601, message: 'not supported while accepting tools' },
      });
      return;
    }
    if (!isJSONRPCResultResponse(message) && !isJSONRPCErrorResponse(message)) return;
    if (typeof message.id === 'number') waiting.get(message.id)?.(message);
  };
  const request = (method: string, params: Record<string, unknown>): Promise<unknown> => {
    const id = ++next;
    return new Promise((resolve, reject) => {
      const fail = (why: string): void =>
        reject(
          new IronClawError('PROTOCOL_ERROR', `${method} to the wrapped server failed: ${why}`),
        );
      options.signal.addEventListener('abort', () => fail('timed out'), { once: true });
      void upstream.exited.then(fail);
      waiting.set(id, (message) => {
        waiting.delete(id);
        if (isJSONRPCErrorResponse(message)) fail(message.error.message);
        else if (isJSONRPCResultResponse(message)) resolve(message.result);
      });
      upstream.send({ jsonrpc: '2.0', id, method, params });
    });
  };
  await request('initialize', {
    protocolVersion: PROTOCOL_VERSION,
    capabilities: REVIEW_CAPABILITIES,
    clientInfo: { name: 'ironclaw-wrap-accept', version: options.version },
  });
  upstream.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  const tools: ListedTool[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const result = await request('tools/list', cursor === undefined ? {} : { cursor });
    const listed = listedTools(result);
    if (!listed)
      throw new IronClawError(
        'PROTOCOL_ERROR',
        'the wrapped server answered tools/list with something that is not a tool list',
      );
    tools.push(...listed.tools);
    cursor = (result as { nextCursor?: string }).nextCursor;
    if (!listed.more) break;
  }
  // A damaged pin file is replaced: this run is the review it asks for.
  const before = await readPins(options.pinPath).catch(() => undefined);
  await writePins(options.pinPath, options.argv, { ...before?.tools, ...toolDigests(tools) });
  if (!before)
    return `accepted ${tools.length} tools: ${tools.map((tool) => tool.name).join(', ') || '(none)'}`;
  const changes = compareTools(before.tools, tools);
  const parts = [
    changes.added.length > 0 ? `new: ${changes.added.join(', ')}` : '',
    changes.changed.length > 0 ? `changed: ${changes.changed.join(', ')}` : '',
    changes.removed.length > 0
      ? `kept, though not listed now (the server may list them to other clients only): ${changes.removed.join(', ')}`
      : '',
  ].filter(Boolean);
  const review = tools
    .filter((tool) => changes.added.includes(tool.name) || changes.changed.includes(tool.name))
    .map((tool) => `\n  ${tool.name}: ${JSON.stringify(tool.description ?? '').slice(0, 400)}`);
  return `accepted ${tools.length} tools (${parts.join('; ') || 'no changes'})${review.join('')}`;
}
