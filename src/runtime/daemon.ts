import { chmod, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { IronClawError, unwrap } from '../core/errors.js';
import { checkId } from '../core/ids.js';
import type { Limits } from '../core/limits.js';
import { DAEMON_METHODS } from '../protocol/daemon-api.js';
import { type Handler, parseParams } from '../protocol/rpc-server.js';
import { RpcServer } from '../protocol/rpc-server.js';
import type { ApprovalBroker } from '../approval/approval-broker.js';
import { daemonFileHandlers } from './daemon-file-handlers.js';
import { PortForwards } from './port-forwards.js';
import { runExec } from './run-exec.js';
import type { Sandbox } from './sandbox.js';
import { BoxWorkspace, copyWorkspaceIn } from './box-workspace.js';
import { SandboxSource, type SandboxSourceOptions } from './sandbox-source.js';
import { WorkspaceApprovals } from './workspace-approvals.js';
import { alsoReportLongWorkTo } from '../host/long-work.js';

export interface DaemonOptions {
  stateDir: string;
  /** Ready sandboxes kept warm for `create` without limits of its own. */
  poolSize: number;
  /** How every sandbox of this daemon is made (driver, host uid when root). */
  sandbox: Pick<
    SandboxSourceOptions,
    'driver' | 'rootBoxUid' | 'boxUids' | 'defaultMemoryBytes' | 'defaultAllowNet'
  >;
  log: (line: string) => void;
  /**
   * The approval cliff of this daemon's sandboxes (workspace apply). Without one (the audit
   * store could not be opened: `approvalsUnavailable` says why) nothing is approved.
   */
  approvals: ApprovalBroker | undefined;
  approvalsUnavailable?: string | undefined;
  /**
   * Serves the dashboard for this daemon's sandboxes, started on the first `dashboard` request.
   * Injected by the CLI: the runtime does not know the dashboard.
   */
  dashboard?: (view: DaemonView) => Promise<DaemonDashboard>;
}

/** One sandbox of the daemon with the settings it was created with. */
export interface DaemonSandbox {
  sandbox: Sandbox;
  /** The limits asked for at create (the rest are the defaults). */
  limits: Partial<Limits>;
  allowNet: readonly string[];
}

/** What a dashboard sees of the daemon. */
export interface DaemonView {
  sandboxes(): DaemonSandbox[];
}

export interface DaemonDashboard {
  readonly url: string;
  close(): Promise<void>;
}

export interface Daemon {
  readonly socketPath: string;
  /** Pending approvals and their answers, for the dashboard. */
  readonly approvals: ApprovalBroker | undefined;
  /** Resolves when the daemon has stopped (shutdown request, or close()). */
  readonly stopped: Promise<void>;
  close(): Promise<void>;
}

export function daemonSocketPath(stateDir: string): string {
  return join(stateDir, 'daemon.sock');
}

/**
 * The daemon holds long-lived sandboxes for the CLI, between its invocations, and the warm
 * pool. It speaks the framed protocol on a 0600 Unix socket in the 0700 state directory. A
 * client's bad input fails that request (or, for a broken frame, that connection); the daemon
 * keeps serving everyone else.
 */
export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const socketPath = daemonSocketPath(options.stateDir);
  const sandboxes = new Map<string, Sandbox>();
  /** What each sandbox was created with, for the dashboard. */
  const settings = new WeakMap<Sandbox, { limits: Partial<Limits>; allowNet: readonly string[] }>();
  let dashboard: Promise<DaemonDashboard> | undefined;
  const view: DaemonView = {
    sandboxes: () =>
      [...sandboxes.values()].map((sandbox) => ({
        sandbox,
        ...(settings.get(sandbox) ?? { limits: {}, allowNet: [] }),
      })),
  };
  /** Published ports of each sandbox that has any: closed when it is destroyed. */
  const published = new Map<string, PortForwards>();
  /** When each sandbox was handed out (a pooled one was made earlier). */
  const handedOut = new Map<string, Date>();
  /** Ids being created: a second create of the same id must fail, not race the first. */
  const creating = new Set<string>();
  const source = new SandboxSource({
    ...options.sandbox,
    approvals: options.approvals && { broker: options.approvals, agent: 'a sandbox of the daemon' },
    poolSize: options.poolSize,
    log: { warn: options.log, info: options.log },
  });
  const connections = new Set<Socket>();
  const broker = (): ApprovalBroker => {
    if (!options.approvals)
      throw new IronClawError(
        'AUDIT_UNAVAILABLE',
        `nothing can be approved: ${options.approvalsUnavailable ?? 'this daemon has no approval broker'}; nothing was written`,
      );
    return options.approvals;
  };
  const workspaceApprovals = options.approvals && new WorkspaceApprovals(options.approvals);
  const needApprovals = (): WorkspaceApprovals =>
    workspaceApprovals ?? new WorkspaceApprovals(broker());
  const { promise: stopped, resolve: stop } = Promise.withResolvers<void>();

  const find = (id: string): Sandbox => {
    const sandbox = sandboxes.get(unwrap(checkId(id)));
    if (!sandbox)
      throw new IronClawError(
        'SANDBOX_NOT_FOUND',
        `no sandbox ${JSON.stringify(id)}; \`ironclaw sandbox list\` shows the live ones`,
      );
    return sandbox;
  };

  const handlers: Record<keyof typeof DAEMON_METHODS, Handler> = {
    create: async (raw, context) => {
      const params = parseParams(DAEMON_METHODS.create.params, raw, 'create');
      const wanted = params.id === undefined ? undefined : unwrap(checkId(params.id));
      if (wanted !== undefined && (sandboxes.has(wanted) || creating.has(wanted))) {
        throw new IronClawError('INVALID_ARGUMENT', `sandbox ${wanted} already exists`);
      }
      if (wanted !== undefined) creating.add(wanted);
      const limits: Partial<Limits> = {};
      if (params.limits?.memoryBytes !== undefined) limits.memoryBytes = params.limits.memoryBytes;
      if (params.limits?.pids !== undefined) limits.pids = params.limits.pids;
      const { sandbox, fromPool } = await (async () => {
        // The workspace is walked and its caps checked before a sandbox is taken for it.
        const workspace = params.workspace && (await BoxWorkspace.prepare(params.workspace));
        // A first image build or VM template boot is reported to the waiting client too.
        const got = await alsoReportLongWorkTo(
          (message) => context.emit('progress', { message }),
          () =>
            source.acquire({
              id: params.id,
              limits,
              allowNet: params.allowNet,
              driver: params.driver,
              mounts: params.mounts,
              env: params.env,
              signal: context.signal,
            }),
        );
        if (workspace) await copyWorkspaceIn(got.sandbox, workspace, context.signal);
        return got;
      })().finally(() => {
        if (wanted !== undefined) creating.delete(wanted);
      });
      const ports = params.ports ?? [];
      if (ports.length > 0) {
        const forwards = await PortForwards.open(
          sandbox,
          ports.map((port) => ({
            boxPort: port.boxPort,
            hostPort: port.hostPort ?? 0,
            address: port.address ?? '127.0.0.1',
          })),
        ).catch(async (error: unknown) => {
          await sandbox.destroy();
          throw error;
        });
        published.set(sandbox.id, forwards);
      }
      sandboxes.set(sandbox.id, sandbox);
      settings.set(sandbox, { limits, allowNet: params.allowNet ?? [] });
      handedOut.set(sandbox.id, new Date());
      options.log(`created sandbox ${sandbox.id}`);
      const forwarded = published.get(sandbox.id)?.ports;
      return {
        id: sandbox.id,
        isolation: sandbox.isolation,
        fromPool,
        ...(forwarded ? { ports: forwarded } : {}),
      };
    },
    exec: (raw, context) => {
      const params = parseParams(DAEMON_METHODS.exec.params, raw, 'exec');
      return runExec(find(params.id), params, context);
    },
    ...daemonFileHandlers(find),
    destroy: async (raw) => {
      const params = parseParams(DAEMON_METHODS.destroy.params, raw, 'destroy');
      const sandbox = find(params.id);
      sandboxes.delete(sandbox.id);
      settings.delete(sandbox);
      handedOut.delete(sandbox.id);
      const forwards = published.get(sandbox.id);
      published.delete(sandbox.id);
      await Promise.allSettled([forwards?.close(), sandbox.destroy()]);
      options.log(`destroyed sandbox ${sandbox.id}`);
      return {};
    },
    stats: async (raw) => {
      const params = parseParams(DAEMON_METHODS.stats.params, raw, 'stats');
      const chosen = params.id === undefined ? [...sandboxes.values()] : [find(params.id)];
      return {
        sandboxes: await Promise.all(
          chosen.map(async (sandbox) => {
            const base = { id: sandbox.id, driver: sandbox.isolation.driver };
            const stats = await sandbox.stats();
            if (!stats)
              return { ...base, why: 'nothing counts this box: this host has no cgroups for it' };
            const { countedBy, ...numbers } = stats;
            return {
              ...base,
              countedBy,
              stats: {
                ...numbers,
                memoryLimitBytes: numbers.memoryLimitBytes ?? null,
                pidsLimit: numbers.pidsLimit ?? null,
              },
            };
          }),
        ),
      };
    },
    ports: async (raw) => {
      const params = parseParams(DAEMON_METHODS.ports.params, raw, 'ports');
      const sandbox = find(params.id);
      return { ports: published.get(sandbox.id)?.ports ?? [] };
    },
    sandboxes: async (raw) => {
      parseParams(DAEMON_METHODS.sandboxes.params, raw, 'sandboxes');
      return {
        sandboxes: [...sandboxes.values()].map((sandbox) => ({
          id: sandbox.id,
          createdAt: sandbox.createdAt.toISOString(),
          handedOutAt: (handedOut.get(sandbox.id) ?? sandbox.createdAt).toISOString(),
          isolation: { ...sandbox.isolation },
        })),
        pool: source.pool,
        config: {
          driver: source.defaultDriver,
          defaultMemoryBytes: source.defaultMemoryBytes ?? null,
        },
      };
    },
    workspace_diff: async (raw, context) => {
      const params = parseParams(DAEMON_METHODS.workspace_diff.params, raw, 'workspace_diff');
      return find(params.id).workspaceDiff({ signal: context.signal });
    },
    apply_request: async (raw, context) => {
      const params = parseParams(DAEMON_METHODS.apply_request.params, raw, 'apply_request');
      return needApprovals().ask(find(params.id), params, context.signal);
    },
    approval_answer: async (raw) => {
      const params = parseParams(DAEMON_METHODS.approval_answer.params, raw, 'approval_answer');
      return broker().answer({ ...params, id: params.approval });
    },
    workspace_apply: async (raw, context) => {
      const params = parseParams(DAEMON_METHODS.workspace_apply.params, raw, 'workspace_apply');
      const report = await needApprovals().apply(find(params.id), params, context.signal);
      options.log(`applied ${report.applied.length} change(s) of sandbox ${params.id}`);
      return report;
    },
    dashboard: async (raw) => {
      parseParams(DAEMON_METHODS.dashboard.params, raw, 'dashboard');
      const start = options.dashboard;
      if (!start)
        throw new IronClawError('INVALID_ARGUMENT', 'this daemon was started without a dashboard');
      dashboard ??= start(view);
      // A dashboard that failed to start is tried again on the next request.
      dashboard.catch(() => (dashboard = undefined));
      return { url: (await dashboard).url };
    },
    shutdown: async (raw) => {
      parseParams(DAEMON_METHODS.shutdown.params, raw, 'shutdown');
      setImmediate(() => void close());
      return {};
    },
  };

  const server: Server = createServer((socket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
    new RpcServer(socket, handlers, {
      onClose: (error) => {
        if (error) options.log(`closed a client connection: ${error.code}: ${error.message}`);
      },
    });
  });
  await rm(socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  await chmod(socketPath, 0o600);
  source.start();
  options.log(`listening on ${socketPath} with a warm pool of ${options.poolSize}`);

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      server.close();
      for (const socket of connections) socket.destroy();
      await Promise.allSettled([
        dashboard?.then((served) => served.close()),
        source.close(),
        ...[...published.values()].map((forwards) => forwards.close()),
        ...[...sandboxes.values()].map((sandbox) => sandbox.destroy()),
      ]);
      sandboxes.clear();
      await rm(socketPath, { force: true });
      options.log('stopped');
      stop();
    })();
    return closing;
  };
  return { socketPath, stopped, close, approvals: options.approvals };
}
