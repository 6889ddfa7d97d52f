import { IronClawError, unwrap } from '../core/errors.js';
import { describeExit } from '../core/exit-status.js';
import { formatBytes } from '../core/units.js';
import { checkId, newId } from '../core/ids.js';
import type { DriverName, IsolationReport } from '../core/isolation.js';
import type { Limits } from '../core/limits.js';
import { EGRESS_PORT, EGRESS_SOCKET_IN_BOX, egressEnv } from '../core/egress-env.js';
import { EmptyResultSchema, PingResultSchema } from '../protocol/guest-api.js';
import { RpcClient } from '../protocol/rpc-client.js';
import { audit } from '../audit/audit-log.js';
import { driverFor } from '../drivers/index.js';
import type { SeccompChoice } from '../host/seccomp-filter.js';
import { type BoxMount, DEFAULT_ROOT_BOX_UID } from '../host/box-process.js';
import { detectCgroups } from '../host/cgroups.js';
import { assertLimitsFit } from '../host/driver.js';
import { Sandbox } from './sandbox.js';
import { startSandboxEgress } from './sandbox-egress.js';
import { exitSoon } from './box-end.js';
import { recordSandboxStart } from './sandbox-ledger.js';
import { BoxWorkspace, type WorkspaceOptions } from './box-workspace.js';

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
  /** How long the guest agent may take to answer its first ping. */
  startTimeoutMs?: number;
  /** Host uid the box runs as when IronClaw runs as root (default 65534, nobody). */
  rootBoxUid?: number;
  /** 'none' turns the syscall filter off: an explicit weakening, reported in `isolation`. */
  seccomp?: SeccompChoice;
  /** Host paths bound into the box: bwrap only, checked before it starts. */
  mounts?: readonly BoxMount[];
  /** Variables added to the box's environment (and so to every command run in it). */
  env?: Readonly<Record<string, string>>;
  /**
   * A Unix socket on the host, the egress proxy's: connections to 127.0.0.1:3128 in the box are
   * bridged to it, and the box's environment points HTTP(S)_PROXY and ALL_PROXY there. The box
   * still has no route out; the proxy decides what each connection may reach. Needs a driver
   * with host mounts and extra environment.
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

/** Creates a sandbox with the guest agent running and answering. */
export async function createSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const id = options.id === undefined ? newId() : unwrap(checkId(options.id));
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
  const cgroups = await detectCgroups();
  const limits = { ...options.limits };
  if (
    limits.memoryBytes === undefined &&
    options.defaultMemoryBytes !== undefined &&
    !driver.capabilities.ownMemory &&
    cgroups.available
  )
    limits.memoryBytes = options.defaultMemoryBytes;
  assertLimitsFit(driver, limits, 'agent');
  options.signal?.throwIfAborted();
  const rootBoxUid = options.rootBoxUid ?? DEFAULT_ROOT_BOX_UID;
  const egress = wantsEgress
    ? await startSandboxEgress(
        id,
        options.allowNet ?? [],
        process.getuid?.() === 0 ? rootBoxUid : undefined,
      )
    : undefined;
  const egressSocket = egress?.socket ?? options.egressSocket;
  const { mounts, env } = withEgress(options, egressSocket);
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
    });
  } catch (error) {
    await egress?.close();
    throw error;
  }
  const client = new RpcClient(box.agent as NonNullable<typeof box.agent>, {
    name: `sandbox ${id}`,
  });
  // Its record in the ledger goes when the box does (the sandbox's end is then in the audit log).
  let forgetRecord = (): Promise<void> => Promise.resolve();
  const started = box;
  const sandbox = new Sandbox(
    id,
    {
      ...box,
      isolation: egress ? withEgressReport(box.isolation, options.allowNet ?? []) : box.isolation,
      destroy: () =>
        started.destroy().finally(() => Promise.all([forgetRecord(), egress?.close()])),
    },
    client,
  );
  try {
    const timeout = AbortSignal.timeout(
      options.startTimeoutMs ?? driver.capabilities.startTimeoutMs,
    );
    const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
    const failed = box.exited.then(({ code, signal: killed }) => {
      throw new IronClawError(
        'SANDBOX_START_FAILED',
        `sandbox ${id} exited during start-up (${killed ?? `exit code ${code}`}): ${box.stderrTail() || 'no output'}`,
      );
    });
    await Promise.race([client.request('ping', {}, PingResultSchema, { signal }), failed]);
    if (egressSocket !== undefined) {
      const bridge = { port: EGRESS_PORT, socket: EGRESS_SOCKET_IN_BOX };
      await Promise.race([
        client.request('net_bridge', bridge, EmptyResultSchema, { signal }),
        failed,
      ]);
    }
    if (workspace) {
      // Not under the start-up timeout: a large workspace takes as long as it takes.
      const copied = BoxWorkspace.copyIn(sandbox, workspace, options.signal);
      copied.catch(() => undefined);
      sandbox.attachWorkspace(await Promise.race([copied, failed]));
    }
    failed.catch(() => undefined);
    audit({
      event: 'sandbox-created',
      sandbox: id,
      driver: box.isolation.driver,
      hostUid: box.isolation.hostUid,
    });
    // The caller's own mounts only: the egress proxy's socket is IronClaw's plumbing.
    for (const mount of options.mounts ?? [])
      if (!mount.readOnly)
        audit({ event: 'mount-read-write', sandbox: id, host: mount.host, guest: mount.guest });
    forgetRecord = await recordSandboxStart(id, box.isolation.driver);
    return sandbox;
  } catch (error) {
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

/** The mounts and environment of a box, with the egress proxy's socket and variables if asked. */
function withEgress(
  options: SandboxOptions,
  egressSocket: string | undefined,
): {
  mounts: readonly BoxMount[] | undefined;
  env: Readonly<Record<string, string>> | undefined;
} {
  if (egressSocket === undefined) return { mounts: options.mounts, env: options.env };
  return {
    mounts: [
      ...(options.mounts ?? []),
      { host: egressSocket, guest: EGRESS_SOCKET_IN_BOX, readOnly: false },
    ],
    env: { ...egressEnv(), ...options.env },
  };
}

/** The network layer of a box with egress: still no interface but loopback, and what it may reach. */
function withEgressReport(report: IsolationReport, allowNet: readonly string[]): IsolationReport {
  return {
    ...report,
    layers: {
      ...report.layers,
      network: {
        on: true,
        detail: `no interface but loopback; egress only through IronClaw's proxy on the host (127.0.0.1:${EGRESS_PORT} in the box), which allows ${allowNet.join(', ')} and audits every connection`,
      },
    },
  };
}
