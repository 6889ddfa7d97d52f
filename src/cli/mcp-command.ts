import { randomBytes } from 'node:crypto';
import { unwrap } from '../core/errors.js';
import { parseDuration } from '../core/units.js';
import { keepAuditTrimmed } from '../audit/audit-trail.js';
import { loadConfig } from '../host/config-file.js';
import { parseListen } from '../mcp/listen-address.js';
import { stderrLogger } from '../mcp/logger.js';
import type { McpService } from '../mcp/mcp-service.js';
import { SandboxSource } from '../runtime/sandbox-source.js';
import { type Dashboard, startDashboard } from '../dashboard/start-dashboard.js';
import { reportError, usageError } from './cli-error.js';
import { configFlags } from './config-flags.js';
import { EgressAsks } from '../mcp/egress-asks.js';
import { openApprovals } from './open-approvals.js';

const DEFAULT_IDLE = '30m';
const MAX_SANDBOXES_PER_SESSION = 8;
const MIN_TOKEN_CHARS = 16;

type Flags = Record<string, string | boolean | string[] | undefined>;

/**
 * `ironclaw mcp [--http [host:]port]`: the MCP server, on stdio unless --http is given. stdout
 * carries the protocol only; everything else goes to stderr. Runs until stdin closes (stdio) or
 * SIGINT/SIGTERM, then destroys every sandbox it made.
 */
export async function mcpCommand(flags: Flags, version: string): Promise<number> {
  let service: McpService | undefined;
  let source: SandboxSource | undefined;
  let dashboard: Dashboard | undefined;
  try {
    const listen = typeof flags.http === 'string' ? parseListen(flags.http) : undefined;
    if (flags.dashboard === true && !listen)
      throw usageError(
        '--dashboard needs --http: a stdio server has one client, which holds its own view',
      );
    const idleMs = unwrap(
      parseDuration(
        typeof flags['idle-timeout'] === 'string' ? flags['idle-timeout'] : DEFAULT_IDLE,
        '--idle-timeout',
      ),
    );
    const config = await loadConfig(configFlags(flags));
    const log = stderrLogger({ level: flags.verbose ? 'debug' : 'info' });
    keepAuditTrimmed({ maxAgeMs: config.auditMaxAgeMs, maxBytes: config.auditMaxBytes });
    const cliff = openApprovals();
    if (cliff.unavailable !== undefined) log.warn(`approvals are off: ${cliff.unavailable}`);
    // A stdio client's user is asked about its sandboxes' egress while its call runs there.
    const egressAsks = new EgressAsks();
    source = new SandboxSource({
      driver: config.driver,
      poolSize: config.poolSize,
      primedPoolSize: config.poolSize,
      rootBoxUid: config.rootBoxUid,
      boxUids: config.boxUids,
      defaultMemoryBytes: config.defaultMemoryBytes,
      defaultAllowNet: config.defaultAllowNet,
      approvals: cliff.approvals && {
        broker: cliff.approvals,
        agent: 'a sandbox of ironclaw mcp',
        channels: egressAsks,
      },
      log,
    });
    source.start();
    const common = {
      approvals: cliff.approvals,
      egressAsks,
      source,
      log,
      version,
      idleMs,
      maxSandboxesPerSession: MAX_SANDBOXES_PER_SESSION,
    };
    if (listen) {
      const fromEnv = process.env.IRONCLAW_MCP_TOKEN;
      if (fromEnv !== undefined && fromEnv.length < MIN_TOKEN_CHARS)
        throw usageError(`IRONCLAW_MCP_TOKEN must have at least ${MIN_TOKEN_CHARS} characters`);
      const token = fromEnv ?? randomBytes(32).toString('base64url');
      const allowedHosts =
        typeof flags['allowed-hosts'] === 'string'
          ? flags['allowed-hosts'].split(',').filter(Boolean)
          : [];
      // The servers load when this command runs (a chunk of their own, see scripts/build.mjs):
      // the SDK would cost every other command of this bundle tens of milliseconds of start-up.
      const { serveMcpHttp } = await import('../mcp/serve-http.js');
      const http = await serveMcpHttp({ ...common, ...listen, token, allowedHosts });
      service = http;
      log.info(`serving Streamable HTTP at ${http.url}`);
      if (!isLoopback(listen.host))
        log.warn(
          `${listen.host} is reachable from other machines, over plain HTTP: the bearer token is all that stands between them and your sandboxes`,
        );
      if (fromEnv === undefined)
        process.stderr.write(
          `ironclaw mcp: bearer token (shown once; set IRONCLAW_MCP_TOKEN to choose one): ${token}\n`,
        );
      if (flags.dashboard === true) {
        // On 127.0.0.1 whatever address the MCP endpoint has: the dashboard decides approvals
        // and shows files, so it is for this machine's user only, with a key of its own.
        dashboard = await startDashboard({
          title: `MCP server at ${http.url}`,
          sandboxes: () => http.sandboxes(),
          approvals: cliff.approvals,
        });
        process.stderr.write(
          `ironclaw mcp: dashboard (keep the address to yourself): ${dashboard.url}\n`,
        );
      }
    } else {
      const { serveMcpStdio } = await import('../mcp/serve-stdio.js');
      service = serveMcpStdio(common);
    }
    const stop = (): void => void service?.close();
    process.once('SIGINT', stop).once('SIGTERM', stop);
    await service.closed;
    return 0;
  } catch (error) {
    await service?.close();
    return reportError(error);
  } finally {
    await dashboard?.close();
    await source?.close();
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
