import { Console } from 'node:console';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import { buildMcpServer } from './build-server.js';
import type { McpServeOptions, McpService } from './mcp-service.js';
import { SessionSandboxes } from './session-sandboxes.js';
import { StdioLineTransport } from './stdio-line-transport.js';

/**
 * Serves one client over stdin/stdout: one connection, one session. The session's sandboxes are
 * destroyed when stdin closes (the client went away) or when the service is closed.
 */
export function serveMcpStdio(options: McpServeOptions): McpService {
  // stdout carries the protocol only. Code that logs with console.log (a dependency's warning)
  // would corrupt it, so the console writes to stderr for as long as this process serves.
  globalThis.console = new Console({ stdout: process.stderr, stderr: process.stderr });
  const log = options.log.child({ session: 'stdio' });
  const sandboxes = new SessionSandboxes({
    source: options.source,
    log,
    idleMs: options.idleMs,
    maxSandboxes: options.maxSandboxesPerSession,
  });
  const transport = new StdioLineTransport(process.stdin, process.stdout);
  const build = () =>
    buildMcpServer({
      sandboxes,
      log,
      version: options.version,
      approvals: options.approvals,
      workspaceRoot: options.workspaceRoot,
      egressAsks: options.egressAsks,
    });
  const handle = serveStdio(build, {
    transport,
    onerror: (error) => log.warn(`stdio: ${error.message}`),
  });
  log.info('serving MCP on stdio');
  let closing: Promise<void> | undefined;
  const { promise: closed, resolve: finished } = Promise.withResolvers<void>();
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      await Promise.allSettled([handle.close(), sandboxes.close()]);
      log.info('stdio session ended');
      finished();
    })());
  void transport.closed.then(close);
  return { closed, close };
}
