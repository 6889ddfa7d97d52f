import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createDashboardHandler } from './dashboard-handler.js';
import type { DashboardSource } from './dashboard-source.js';

export interface Dashboard {
  /** The address to open, with the token in its fragment. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serves the dashboard on 127.0.0.1 (never another address: it shows and decides what crosses
 * the sandboxes' boundary) at a free port, behind a fresh random token.
 */
export async function startDashboard(
  source: DashboardSource,
  options: { port?: number; signal?: AbortSignal } = {},
): Promise<Dashboard> {
  const token = randomBytes(32).toString('base64url');
  let port = 0;
  const handler = createDashboardHandler(source, { token, port: () => port, basePath: '' });
  const server = createServer((req, res) => handler.handle(req, res));
  server.listen({ host: '127.0.0.1', port: options.port ?? 0, signal: options.signal });
  await once(server, 'listening', options.signal ? { signal: options.signal } : {});
  port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    url: dashboardUrl(`http://127.0.0.1:${port}`, token),
    close: () =>
      (closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        await handler.close();
        server.closeAllConnections();
        await stopped;
      })()),
  };
}

/** The page's address with the token in the fragment, which browsers never send to a server. */
export function dashboardUrl(base: string, token: string): string {
  return `${base}/#token=${token}`;
}
