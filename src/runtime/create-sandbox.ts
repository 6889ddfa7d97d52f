import type { EgressApprovalContext } from './egress-approval.js';
import { IronClawError, unwrap } from '../core/errors.js';
import { describeExit } from '../core/exit-status.js';
import { formatBytes } from '../core/units.js';
import { checkId, newId } from '../core/ids.js';
import type { DriverName, IsolationReport, LayerReport } from '../core/isolation.js';
import type { Limits } from '../core/limits.js';
import {
  COMMAND_EGRESS_ENV,
  EGRESS_PORT,
  EGRESS_SOCKET_IN_BOX,
  egressEnv,
} from '../core/egress-env.js';
import { DNS_SENTINEL_IPV4 } from '../protocol/dns-stub.js';
import { PingResultSchema } from '../protocol/guest-api.js';
import { RpcClient } from '../protocol/rpc-client.js';
import { audit, audited } from '../audit/audit-trail.js';
import { driverFor } from '../drivers/index.js';
import type { SeccompChoice } from '../host/seccomp-filter.js';
import type { BoxMount } from '../host/box-process.js';
import type { PortFloorWindow } from '../host/port-floor.js';
import type { BoxUids } from '../core/box-uids.js';
import type { EgressPath } from '../host/driver.js';
import { connect } from 'node:net';
import { Sandbox } from './sandbox.js';
import { openDnsPort, startBoxNetwork, startSandboxEgress } from './sandbox-egress.js';
import { exitSoon } from './box-end.js';
import { recordSandboxStart } from './sandbox-ledger.js';
import { BoxWorkspace, type WorkspaceOptions } from './box-workspace.js';
import { boxBudget } from './box-budget.js';

export interface SandboxOptions {
  /** Must match ^[a-z0-9][a-z0-9-]{0,62}$; a random unguessable id otherwise. */
  id?: string;
  driver?: DriverName;
  limits?: Partial<Limits>;
  /**
   * A memory limit for when `limits` gives none, for boxes that share the host's memory (bwrap,
   * gVisor), where host cgroups can hold it. A VM is bounded by its own RAM already (256 MiB
   * unless a limit asks for more) and gets none. Without cgroups the sandbox starts with no
   * memory limit, as any box without a cgroup does, and its isolation report's cgroup layer
   * says why (a limit asked for in `limits` is refused there).
   */
  defaultMemoryBytes?: number | undefined;
  /**
   * How long the box may take to start (a driver that waits on its own start, gVisor, waits
   * this long), and then its guest agent to answer its first ping. Default: the driver's.
   */
  startTimeoutMs?: number;
  /** Host uid every box shares as root with `boxUids: false` (default 65534, nobody). */
  rootBoxUid?: number | undefined;
  /**
   * As root: a host uid (and gid) of its own for this box, leased for its lifetime from this
   * range (default DEFAULT_BOX_UIDS), so that RLIMIT_NPROC, which the kernel counts per uid, is
   * this box's budget alone; false: the shared `rootBoxUid`, one budget for every box (weaker).
   * Unprivileged, the box runs as the caller and this is unused.
   */
  boxUids?: BoxUids | undefined;
  /** 'none' turns the syscall filter off: an explicit weakening, reported in `isolation`. */
  seccomp?: SeccompChoice;
  /** Host paths bound into the box: bwrap only, checked before it starts. */
  mounts?: readonly BoxMount[];
  /** Variables added to the box's environment (and so to every command run in it). */
  env?: Readonly<Record<string, string>>;
  /**
   * A Unix socket on the host, the egress proxy's: connections to 127.0.0.1:3128 in the box are
   * bridged to it (through the socket bound in, or as streams over a VM's channel), and the
   * box's commands get HTTP(S)_PROXY and ALL_PROXY pointing there. The box still has no route
   * out; the proxy decides what each connection may reach. Needs a driver with egress.
   */
  egressSocket?: string;
  /**
   * Network egress: the hosts and ports the box may reach (`example.com`, `*.pypi.org`,
   * `github.com:22`, `127.0.0.1:8080`), through a proxy of its own on the host that resolves a
   * name only once a rule allows it and refuses private and loopback addresses unless a rule
   * names them; every connection is audited. Empty or absent: no network at all.
   */
  allowNet?: readonly string[];
  /**
   * The approval cliff over this sandbox's egress: a host `allowNet` does not list is put to a
   * person (through the broker's watchers) instead of refused outright.
   */
  approvals?: Omit<EgressApprovalContext, 'project'> | undefined;
  /**
   * VM drivers: restore a clone of a template of this configuration (the default; the first
   * sandbox of a configuration boots and saves the template), or boot the VM cold (false).
   */
  template?: boolean;
  /**
   * A host directory copied into /workspace at create (or its options: caps, exclusions), so
   * that workspaceDiff() and workspaceApply() can bring the box's changes back.
   */
  workspace?: string | WorkspaceOptions;
  signal?: AbortSignal;
}

/**
 * Creates a sandbox with the guest agent running and answering. The audit store has its request
 * (what was asked: driver, mounts, network, workspace) before anything starts, and its outcome.
 */
export async function createSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const id = options.id === undefined ? newId() : unwrap(checkId(options.id));
  return audited(
    { kind: 'sandbox-create', sandbox: id, data: createRequest(options) },
    () => startSandbox(id, options),
    {
      describe: (sandbox) => ({
        driver: sandbox.isolation.driver,
        hostUid: sandbox.isolation.hostUid,
      }),
    },
  );
}

/** What a create asked for, as its audit record keeps it. */
function createRequest(options: SandboxOptions): Record<string, unknown> {
  const workspace = options.workspace;
  return {
    ...(options.driver === undefined ? {} : { driver: options.driver }),
    ...(options.mounts?.length ? { mounts: options.mounts.slice(0, 64) } : {}),
    ...(options.allowNet?.length ? { allowNet: options.allowNet.slice(0, 64) } : {}),
    ...(workspace === undefined
      ? {}
      : { workspace: typeof workspace === 'string' ? workspace : workspace.dir }),
    ...(options.seccomp === 'none' ? { seccomp: 'none' } : {}),
  };
}

async function startSandbox(id: string, options: SandboxOptions): Promise<Sandbox> {
  // The workspace is walked and its caps checked before a box is started for it.
  const workspace =
    options.workspace === undefined
      ? undefined
      : await BoxWorkspace.prepare(
          typeof options.workspace === 'string' ? { dir: options.workspace } : options.workspace,
        );
  const wantsEgress = (options.allowNet?.length ?? 0) > 0;
  if (wantsEgress && options.egressSocket !== undefined)
    throw new IronClawError('INVALID_ARGUMENT', 'give allowNet or egressSocket, not both');
  const driver = driverFor(options.driver, {
    mounts: options.mounts,
    env: options.env,
    template: options.template,
    egress: wantsEgress || options.egressSocket !== undefined,
  });
  const { cgroups, limits, uidLease } = await boxBudget(driver, 'agent', options);
  const rootBoxUid = uidLease.uid;
  let egress;
  try {
    egress = wantsEgress
      ? await startSandboxEgress(
          id,
          options.allowNet ?? [],
          process.getuid?.() === 0 ? rootBoxUid : undefined,
          options.approvals && {
            ...options.approvals,
            project:
              options.workspace === undefined
                ? undefined
                : typeof options.workspace === 'string'
                  ? options.workspace
                  : options.workspace.dir,
          },
        )
      : undefined;
  } catch (error) {
    await uidLease.release();
    throw error;
  }
  const egressSocket = egress?.socket ?? options.egressSocket;
  const { mounts, env } = options;
  let box;
  try {
    box = await driver.spawn({
      id,
      limits,
      payload: { kind: 'agent' },
      cgroups,
      rootBoxUid,
      ...(options.seccomp === undefined ? {} : { seccomp: options.seccomp }),
      ...(mounts === undefined ? {} : { mounts }),
      ...(env === undefined ? {} : { env }),
      ...(options.template === undefined ? {} : { template: options.template }),
      ...(options.startTimeoutMs === undefined ? {} : { startTimeoutMs: options.startTimeoutMs }),
      ...(egressSocket !== undefined && driver.capabilities.egress === 'socket'
        ? { egressSocket }
        : {}),
    });
  } catch (error) {
    await Promise.allSettled([egress?.close(), uidLease.release()]);
    throw error;
  }
  const client = new RpcClient(box.agent as NonNullable<typeof box.agent>, {
    name: `sandbox ${id}`,
  });
  // Its record in the ledger goes when the box does (the sandbox's end is then in the audit store).
  let forgetRecord = (): Promise<void> => Promise.resolve();
  const started = box;
  // The network layer says what the box's resolver does once its stub has come up or not.
  const isolation = egress
    ? withEgressReport(box.isolation, options.allowNet ?? [])
    : box.isolation;
  const sandbox = new Sandbox(
    id,
    {
      ...box,
      isolation,
      // The uid goes back only once every process of the box is gone.
      destroy: () =>
        started
          .destroy()
          .finally(() => Promise.all([forgetRecord(), egress?.close(), uidLease.release()])),
    },
    client,
  );
  let dnsPort: Promise<PortFloorWindow> | undefined;
  try {
    const timeout = AbortSignal.timeout(
      options.startTimeoutMs ?? driver.capabilities.startTimeoutMs,
    );
    const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
    if (egressSocket !== undefined && box.lowerPortFloor) {
      dnsPort = openDnsPort(box, signal);
      // Reported by startBoxNetwork, which awaits it; this only keeps it from going unhandled.
      dnsPort.catch(() => undefined);
    }
    const failed = box.exited.then(({ code, signal: killed }) => {
      throw new IronClawError(
        'SANDBOX_START_FAILED',
        `sandbox ${id} exited during start-up (${killed ?? `exit code ${code}`}): ${box.stderrTail() || 'no output'}`,
      );
    });
    // The box's network is asked for with the ping, not after its answer: the agent takes
    // requests in order, and each round trip on a busy machine adds 0.1-0.4 s to the start.
    const network =
      egressSocket === undefined
        ? undefined
        : startBoxNetwork(
            client,
            netBridge(client, {
              path: driver.capabilities.egress,
              socket: egressSocket,
              callerEnv: options.env,
            }),
            dnsPort,
            signal,
          );
    network?.catch(() => undefined);
    await Promise.race([client.request('ping', {}, PingResultSchema, { signal }), failed]);
    if (network)
      isolation.layers.network = egressNetworkLayer(
        options.allowNet ?? [],
        await Promise.race([network, failed]),
      );
    if (workspace) {
      // Not under the start-up timeout: a large workspace takes as long as it takes.
      const copied = BoxWorkspace.copyIn(sandbox, workspace, options.signal);
      copied.catch(() => undefined);
      sandbox.attachWorkspace(await Promise.race([copied, failed]));
    }
    failed.catch(() => undefined);
    // The caller's own mounts only: the egress proxy's socket is IronClaw's plumbing.
    for (const mount of options.mounts ?? [])
      if (!mount.readOnly)
        audit({
          kind: 'mount-read-write',
          sandbox: id,
          data: { host: mount.host, guest: mount.guest },
        });
    forgetRecord = await recordSandboxStart(id, box.isolation.driver);
    return sandbox;
  } catch (error) {
    // A floor still lowered (the start failed before the stub was up) goes back first.
    await dnsPort?.then((window) => window.close()).catch(() => undefined);
    // A box that died says more than the channel it broke: wait a moment for its exit.
    const exit = await exitSoon(box);
    await sandbox.destroy();
    if (error instanceof IronClawError && error.code === 'SANDBOX_START_FAILED') throw error;
    if (error instanceof IronClawError && error.code === 'FILE_ERROR') throw error;
    const tail = box.stderrTail();
    const memory = limits.memoryBytes;
    const why =
      exit === undefined
        ? error instanceof Error
          ? error.message
          : String(error)
        : `it exited during start-up (${describeExit(exit)})${memory === undefined ? '' : `; its memory limit of ${formatBytes(memory)} may be too small`}`;
    throw new IronClawError(
      'SANDBOX_START_FAILED',
      `sandbox ${id} did not start: ${why}${tail ? `; its output: ${tail}` : ''}`,
      { cause: error },
    );
  }
}

/**
 * The guest agent's side of egress: its loopback port bridged to the proxy, through the socket
 * the driver bound in or (gVisor, VMs) as streams over the agent's channel that this host joins
 * to the proxy's socket; and the proxy variables for every command (those the caller set win).
 */
function netBridge(
  client: RpcClient,
  {
    path,
    socket,
    callerEnv,
  }: {
    path: EgressPath | false;
    socket: string;
    callerEnv: Readonly<Record<string, string>> | undefined;
  },
): Record<string, unknown> {
  const env = Object.fromEntries(
    Object.entries({ ...egressEnv(), ...COMMAND_EGRESS_ENV }).filter(
      ([name]) => callerEnv?.[name] === undefined,
    ),
  );
  if (path === 'channel') {
    client.streams.accept(() => connect({ path: socket, allowHalfOpen: true }));
    return { port: EGRESS_PORT, channel: true, env };
  }
  return { port: EGRESS_PORT, socket: EGRESS_SOCKET_IN_BOX, env };
}

/** A box with egress, reported before its stub is asked for (egressNetworkLayer says after). */
function withEgressReport(report: IsolationReport, allowNet: readonly string[]): IsolationReport {
  return {
    ...report,
    layers: { ...report.layers, network: egressNetworkLayer(allowNet, 'not started yet') },
  };
}

/**
 * The network layer of a box with egress: still no interface but loopback, and what it may
 * reach; names resolve to the sentinel only where the stub serves (`noStub` says why not).
 */
function egressNetworkLayer(allowNet: readonly string[], noStub: string | undefined): LayerReport {
  const names =
    noStub === undefined
      ? `names resolve in the box to ${DNS_SENTINEL_IPV4} (its own DNS stub, which forwards nothing)`
      : `no name resolves in the box (it has no DNS stub: ${noStub}); tools that hand the proxy names still work`;
  return {
    on: true,
    detail: `no interface but loopback; egress only through IronClaw's proxy on the host (127.0.0.1:${EGRESS_PORT} in the box), which allows ${allowNet.join(', ')} and audits every connection; ${names}`,
  };
}
