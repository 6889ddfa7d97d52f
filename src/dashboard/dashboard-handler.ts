import type { IncomingMessage, ServerResponse } from 'node:http';
import { IronClawError, toIronClawError } from '../core/errors.js';
import { approvalsView, decide, DECISION_MAX_BYTES } from './approvals-api.js';
import { AuditFeed } from './audit-feed.js';
import { checkDashboardRequest } from './dashboard-gate.js';
import type { DashboardSource } from './dashboard-source.js';
import { readSmallBody, sendError, sendJson, sendProblem, SECURITY_HEADERS } from './http-reply.js';
import { pageFiles } from './page-assets.js';
import { listFiles, parseFileQuery, viewFile } from './sandbox-files-api.js';
import { type SandboxSummary, summarize } from './sandbox-summary.js';
import { StreamHub } from './stream-hub.js';

/** Audit records a page starts with; older ones are `ironclaw audit`'s to show. */
const BACKLOG = 500;
/** How long a file request may take before the page is told so. */
const FILE_TIMEOUT_MS = 15_000;
/** How often the sandbox list is looked at for changes, while a page watches. */
const SANDBOXES_POLL_MS = 1000;

export interface DashboardHandlerOptions {
  token: string;
  /** The port the server listens on, which Host and Origin must name. */
  port: () => number;
  /** Where the dashboard is mounted: '' at the root, '/dashboard' beside an MCP endpoint. */
  basePath: string;
}

export interface DashboardHandler {
  /** Answers a request under basePath (the caller routes only those here). */
  handle(req: IncomingMessage, res: ServerResponse): void;
  close(): Promise<void>;
}

/**
 * The dashboard's HTTP side: the page's files (no token needed: they hold no data) and a JSON
 * API behind the token, with one live stream (server-sent events) of sandboxes and audit records.
 */
export function createDashboardHandler(
  source: DashboardSource,
  options: DashboardHandlerOptions,
): DashboardHandler {
  const feed = new AuditFeed();
  const sandboxes = (): SandboxSummary[] => source.sandboxes().map(summarize);
  const hub = new StreamHub();
  let shownSandboxes = '';
  const sandboxTimer = setInterval(() => {
    if (hub.size === 0) return;
    const now = JSON.stringify(sandboxes());
    if (now === shownSandboxes) return;
    shownSandboxes = now;
    hub.broadcast('sandboxes', now);
  }, SANDBOXES_POLL_MS).unref();
  const unsubscribeApprovals = source.approvals?.subscribe(() =>
    hub.broadcast('approvals', JSON.stringify(approvalsView(source.approvals))),
  );

  const find = (id: string) => {
    const entry = source.sandboxes().find((candidate) => candidate.sandbox.id === id);
    if (!entry)
      throw new IronClawError(
        'SANDBOX_NOT_FOUND',
        `no live sandbox ${JSON.stringify(id.slice(0, 64))}: it was destroyed, or never here`,
      );
    return entry.sandbox;
  };

  const api = async (
    req: IncomingMessage,
    res: ServerResponse,
    route: string,
    params: URLSearchParams,
  ): Promise<void> => {
    const signal = AbortSignal.any([AbortSignal.timeout(FILE_TIMEOUT_MS), closedSignal(res)]);
    const get = req.method === 'GET';
    if (get && route === 'state') return sendJson(res, 200, stateOf(source, sandboxes()));
    if (get && route === 'stream') {
      const backlog = await feed.backlog(BACKLOG).catch((error: unknown) => toIronClawError(error));
      const stream = hub.open(res, SECURITY_HEADERS);
      stream.send('sandboxes', JSON.stringify(sandboxes()));
      stream.send('approvals', JSON.stringify(approvalsView(source.approvals)));
      // Sandboxes and approvals go on without the audit store; the page says why it is missing.
      if (backlog instanceof IronClawError) {
        stream.send('audit-error', JSON.stringify({ message: backlog.message }));
        return;
      }
      const records = backlog;
      stream.send('audit', JSON.stringify(records));
      const unsubscribe = feed.subscribe(records.at(-1)?.seq ?? 0, (fresh) =>
        stream.send('audit', JSON.stringify(fresh)),
      );
      res.once('close', unsubscribe);
      return;
    }
    if (get && route === 'files') {
      const query = parseFileQuery(params);
      return sendJson(res, 200, await listFiles(find(query.sandbox), query.path, signal));
    }
    if (get && route === 'file') {
      const query = parseFileQuery(params);
      return sendJson(res, 200, await viewFile(find(query.sandbox), query.path, signal));
    }
    const approval = /^approvals\/([^/]+)$/.exec(route);
    if (req.method === 'POST' && approval?.[1] !== undefined && source.approvals) {
      const body = await readSmallBody(req, DECISION_MAX_BYTES);
      if (!body) {
        res.setHeader('connection', 'close');
        return sendProblem(
          res,
          413,
          'INVALID_ARGUMENT',
          `a decision has at most ${DECISION_MAX_BYTES} bytes`,
        );
      }
      const result = decide(source.approvals, approval[1], body, 'dashboard');
      return sendJson(res, result.status, result.body);
    }
    sendProblem(res, 404, 'NOT_FOUND', `no ${req.method ?? ''} /api/${route}`);
  };

  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://dashboard');
    const path = url.pathname.slice(options.basePath.length);
    const isApi = path.startsWith('/api/');
    const verdict = checkDashboardRequest(req.headers, {
      port: options.port(),
      token: options.token,
      needsToken: isApi,
    });
    if (!verdict.ok) {
      req.resume();
      const code = verdict.status === 401 ? 'UNAUTHORIZED' : 'FORBIDDEN';
      return sendProblem(res, verdict.status, code, verdict.message);
    }
    if (isApi) return api(req, res, path.slice('/api/'.length), url.searchParams);
    if (path === '') {
      // Relative links on the page need the base to end in a slash.
      res.writeHead(308, { ...SECURITY_HEADERS, location: `${options.basePath}/` }).end();
      return;
    }
    const file = (await pageFiles()).get(path === '/' ? 'index.html' : path.slice(1));
    if (!file || req.method !== 'GET')
      return sendProblem(res, 404, 'NOT_FOUND', `no ${path} here; the dashboard is at /`);
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': file.type });
    res.end(file.body);
  };

  return {
    handle: (req, res) => {
      serve(req, res).catch((error: unknown) => sendError(res, error));
    },
    close: async () => {
      clearInterval(sandboxTimer);
      unsubscribeApprovals?.();
      hub.close();
      feed.close();
    },
  };
}

function stateOf(source: DashboardSource, sandboxes: SandboxSummary[]) {
  return {
    title: source.title,
    sandboxes,
    approvals: approvalsView(source.approvals),
    now: new Date().toISOString(),
  };
}

/** Aborts when the client goes away before its answer is complete. */
function closedSignal(res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  return controller.signal;
}
