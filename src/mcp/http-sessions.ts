import { randomUUID } from 'node:crypto';
import {
  isInitializeRequest,
  WebStandardStreamableHTTPServerTransport,
} from '@modelcontextprotocol/server';
import { buildMcpServer } from './build-server.js';
import { jsonRpcErrorBody } from './http-gate.js';
import type { McpServeOptions } from './mcp-service.js';
import { type SessionSandbox, SessionSandboxes } from './session-sandboxes.js';

/** Sessions one HTTP server holds at once; each may hold maxSandboxesPerSession boxes. */
export const MAX_HTTP_SESSIONS = 32;

interface HttpSession {
  transport: WebStandardStreamableHTTPServerTransport;
  sandboxes: SessionSandboxes;
  /** When a request last named it (performance.now()). */
  lastRequestAt: number;
}

/**
 * The 2025-era Streamable HTTP sessions: `initialize` opens one (a fresh server instance, its
 * own sandboxes, an unguessable Mcp-Session-Id), every later request names it, and DELETE, an
 * idle expiry or shutdown ends it and destroys its sandboxes. A request naming a session that
 * does not exist (never opened, ended, or forged) gets 404, which tells a client to start anew.
 *
 * Many clients never send DELETE (the SDK client's close(), the Inspector, the conformance
 * suite), so a full table is normal, not an attack: a new session then takes the place of the
 * least recently used one that holds no sandbox and runs no call. Such a session costs its
 * client nothing but a new initialize (a 404 tells it to), while one holding sandboxes keeps
 * state the client was given and is only ended by its client, or by the idle timeout.
 */
export class HttpSessions {
  readonly #options: McpServeOptions & { maxBodyBytes: number };
  readonly #sessions = new Map<string, HttpSession>();
  /** Sessions whose initialize is being answered, not yet in #sessions. */
  #opening = 0;

  constructor(options: McpServeOptions & { maxBodyBytes: number }) {
    this.#options = options;
  }

  async handle(request: Request): Promise<Response> {
    const id = request.headers.get('mcp-session-id');
    if (id !== null) {
      const session = this.#sessions.get(id);
      if (!session)
        return answer(
          404,
          -32001,
          'Session not found: it ended or never existed; send initialize to start a new one',
        );
      session.lastRequestAt = performance.now();
      return session.transport.handleRequest(request);
    }
    let body: unknown;
    if (request.method === 'POST') {
      try {
        body = JSON.parse(await request.text());
      } catch {
        return answer(400, -32700, 'Parse error: the request body is not JSON');
      }
    }
    if (!isInitializeRequest(body))
      return answer(
        400,
        -32000,
        'Bad Request: no Mcp-Session-Id header; send initialize first to open a session',
      );
    if (this.#sessions.size + this.#opening >= MAX_HTTP_SESSIONS && !(await this.#evictOne()))
      return answer(
        503,
        -32000,
        `Service Unavailable: ${MAX_HTTP_SESSIONS} sessions are open, the most this server holds, and each holds sandboxes or is running a call; end one (DELETE), or retry when a session's call ends or it times out idle`,
      );
    this.#opening++;
    try {
      return await this.#open(request, body);
    } finally {
      this.#opening--;
    }
  }

  /** The sandboxes every session holds. */
  sandboxes(): SessionSandbox[] {
    return [...this.#sessions.values()].flatMap((session) => session.sandboxes.list());
  }

  /** Ends every session and destroys its sandboxes. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#sessions.keys()].map((id) => this.#end(id)));
  }

  /**
   * Ends the least recently used session that holds no sandbox and runs no call, to make room
   * for a new one; false when there is none.
   */
  async #evictOne(): Promise<boolean> {
    let victim: { id: string; at: number } | undefined;
    for (const [id, session] of this.#sessions) {
      if (session.sandboxes.busy || session.sandboxes.held > 0) continue;
      const at = Math.max(session.lastRequestAt, session.sandboxes.lastActiveAt);
      if (victim === undefined || at < victim.at) victim = { id, at };
    }
    if (victim === undefined) return false;
    this.#options.log
      .child({ session: victim.id.slice(0, 8) })
      .info(
        `session ended to make room for a new one: the least recently used of those holding no sandbox and running no call (last request ${Math.round((performance.now() - victim.at) / 1000)} s ago)`,
      );
    await this.#end(victim.id);
    return true;
  }

  async #open(request: Request, body: unknown): Promise<Response> {
    const sessionId = randomUUID();
    const log = this.#options.log.child({ session: sessionId.slice(0, 8) });
    const sandboxes = new SessionSandboxes({
      source: this.#options.source,
      log,
      idleMs: this.#options.idleMs,
      maxSandboxes: this.#options.maxSandboxesPerSession,
      onIdle: () => {
        log.info('session idle: ending it');
        void this.#end(sessionId);
      },
    });
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => sessionId,
      onsessioninitialized: () => {
        this.#sessions.set(sessionId, {
          transport,
          sandboxes,
          lastRequestAt: performance.now(),
        });
        log.info('session opened');
      },
      onsessionclosed: () => void this.#end(sessionId),
      maxRequestBodySize: this.#options.maxBodyBytes,
    });
    transport.onclose = () => void this.#end(sessionId, { sandboxes });
    const server = buildMcpServer({
      sandboxes,
      log,
      version: this.#options.version,
      approvals: this.#options.approvals,
      workspaceRoot: this.#options.workspaceRoot,
      egressAsks: this.#options.egressAsks,
    });
    await server.connect(transport);
    return transport.handleRequest(request, { parsedBody: body });
  }

  async #end(id: string, orphan?: { sandboxes: SessionSandboxes }): Promise<void> {
    const session = this.#sessions.get(id);
    this.#sessions.delete(id);
    const sandboxes = session?.sandboxes ?? orphan?.sandboxes;
    await Promise.allSettled([session?.transport.close(), sandboxes?.close()]);
    if (session) this.#options.log.child({ session: id.slice(0, 8) }).info('session ended');
  }
}

function answer(status: number, code: number, message: string): Response {
  return new Response(jsonRpcErrorBody(message, code), {
    status,
    headers: { 'content-type': 'application/json' },
  });
}
