import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMcpHandler, isLegacyRequest } from '@modelcontextprotocol/server';
import { buildMcpServer } from './build-server.js';
import {
  MAX_BODY_BYTES,
  readBody,
  sendError,
  sendWebResponse,
  toWebRequest,
  withRequestId,
} from './http-bridge.js';
import { allowedHostnames, checkRequest, MCP_PATH } from './http-gate.js';
import { HttpSessions } from './http-sessions.js';
import { requestIdFromEdges, requestIdOfText } from './request-id.js';
import type { McpServeOptions, McpService } from './mcp-service.js';
import { type SessionSandbox, SessionSandboxes } from './session-sandboxes.js';

export interface HttpServeOptions extends McpServeOptions {
  host: string;
  /** 0 picks a free port; the bound one is in the result's `url`. */
  port: number;
  token: string;
  /** Hostnames that Host and Origin may name besides loopback and the bound address. */
  allowedHosts?: readonly string[];
}

/**
 * Serves Streamable HTTP at http://host:port/mcp. Every request passes the gate (Host, Origin,
 * bearer token) and the body cap before the SDK sees it. 2025-era clients get sessions (see
 * HttpSessions). 2026-07-28 clients are served per request, as that revision has no sessions:
 * their sandbox ids are bound to the token's holder, one scope for the server, which is
 * destroyed when idle like a session.
 */
export async function serveMcpHttp(
  options: HttpServeOptions,
): Promise<McpService & { url: string; sandboxes(): SessionSandbox[] }> {
  const log = options.log.child({ transport: 'http' });
  const sessions = new HttpSessions({ ...options, log, maxBodyBytes: MAX_BODY_BYTES });
  const modernLog = log.child({ session: 'modern' });
  const modernSandboxes = new SessionSandboxes({
    source: options.source,
    log: modernLog,
    idleMs: options.idleMs,
    maxSandboxes: options.maxSandboxesPerSession,
  });
  const modern = createMcpHandler(
    () =>
      buildMcpServer({
        sandboxes: modernSandboxes,
        log: modernLog,
        version: options.version,
        approvals: options.approvals,
        workspaceRoot: options.workspaceRoot,
        egressAsks: options.egressAsks,
      }),
    {
      legacy: 'reject',
      maxRequestBodySize: MAX_BODY_BYTES,
      onerror: (error) => modernLog.debug(`request refused: ${error.message}`),
    },
  );
  const gate = {
    allowedHostnames: allowedHostnames(options.host, options.allowedHosts),
    token: options.token,
  };

  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const verdict = checkRequest(req.url, req.headers, gate);
    if (!verdict.ok) {
      log.debug(`refused ${req.method ?? ''} ${req.url ?? ''}: ${verdict.message}`);
      req.resume();
      sendError(res, verdict.status, verdict.message, verdict.headers);
      return;
    }
    const body = await readBody(req, MAX_BODY_BYTES);
    if (!Buffer.isBuffer(body)) {
      sendError(
        res,
        413,
        `Payload Too Large: a request body may have at most ${MAX_BODY_BYTES} bytes`,
        { connection: 'close' },
        requestIdFromEdges(body.head, body.tail),
      );
      return;
    }
    const request = toWebRequest(req, res, body, `http://${req.headers.host ?? 'localhost'}`);
    const legacy = await isLegacyRequest(request, undefined, {
      maxRequestBodySize: MAX_BODY_BYTES,
    });
    const response = legacy ? await sessions.handle(request) : await modern.fetch(request);
    // Parsed again only for an error answer, which is rare and small next to the work saved.
    const id = response.status >= 400 ? requestIdOfText(body.toString('utf8')) : null;
    await sendWebResponse(res, await withRequestId(response, id));
  };

  const server = createServer((req, res) => {
    serve(req, res).catch((error: unknown) => {
      log.error(
        `HTTP request failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
      );
      if (!res.headersSent)
        sendError(res, 500, 'Internal Server Error: IronClaw failed to serve the request');
      else res.destroy();
    });
  });
  server.listen(options.port, options.host);
  await once(server, 'listening');
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${shownHost}:${address.port}${MCP_PATH}`;

  let closing: Promise<void> | undefined;
  const { promise: closed, resolve: finished } = Promise.withResolvers<void>();
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await Promise.allSettled([
        stopped,
        sessions.close(),
        modern.close(),
        modernSandboxes.close(),
      ]);
      log.info('HTTP server stopped');
      finished();
    })());
  // Every client's sandboxes, for the dashboard of this server.
  const sandboxes = (): SessionSandbox[] => [...sessions.sandboxes(), ...modernSandboxes.list()];
  return { url, closed, close, sandboxes };
}
