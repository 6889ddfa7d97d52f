import { IronClawError, unwrap } from '../core/errors.js';
import { checkId, newId } from '../core/ids.js';
import type { DriverName } from '../core/isolation.js';
import type { Limits } from '../core/limits.js';
import { EGRESS_PORT, EGRESS_SOCKET_IN_BOX, egressEnv } from '../core/egress-env.js';
import { EmptyResultSchema, PingResultSchema } from '../protocol/guest-api.js';
import { RpcClient } from '../protocol/rpc-client.js';
import { audit } from '../audit/audit-log.js';
import { driverFor } from '../drivers/index.js';
import type { SeccompChoice } from '../host/seccomp-filter.js';
import { type BoxMount, DEFAULT_ROOT_BOX_UID } from '../host/box-process.js';
import { detectCgroups } from '../host/cgroups.js';
import { Sandbox } from './sandbox.js';
import { BoxWorkspace, type WorkspaceOptions } from './box-workspace.js';

export interface SandboxOptions {
  /** Must match ^[a-z0-9][a-z0-9-]{0,62}$; a random unguessable id otherwise. */
  id?: string;
  driver?: DriverName;
  limits?: Partial<Limits>;
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
  const { mounts, env } = withEgress(options);
  const driver = driverFor(options.driver, { mounts, env, template: options.template });
  options.signal?.throwIfAborted();
  const box = await driver.spawn({
    id,
    limits: options.limits ?? {},
    payload: { kind: 'agent' },
    cgroups: await detectCgroups(),
    rootBoxUid: options.rootBoxUid ?? DEFAULT_ROOT_BOX_UID,
    ...(options.seccomp === undefined ? {} : { seccomp: options.seccomp }),
    ...(mounts === undefined ? {} : { mounts }),
    ...(env === undefined ? {} : { env }),
    ...(options.template === undefined ? {} : { template: options.template }),
  });
  const client = new RpcClient(box.agent as NonNullable<typeof box.agent>, {
    name: `sandbox ${id}`,
  });
  const sandbox = new Sandbox(id, box, client);
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
    if (options.egressSocket !== undefined) {
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
    return sandbox;
  } catch (error) {
    await sandbox.destroy();
    if (error instanceof IronClawError && error.code === 'SANDBOX_START_FAILED') throw error;
    if (error instanceof IronClawError && error.code === 'FILE_ERROR') throw error;
    const tail = box.stderrTail();
    throw new IronClawError(
      'SANDBOX_START_FAILED',
      `sandbox ${id} did not start: ${error instanceof Error ? error.message : String(error)}${tail ? `; its output: ${tail}` : ''}`,
      { cause: error },
    );
  }
}

/** The mounts and environment of a box, with the egress proxy's socket and variables if asked. */
function withEgress(options: SandboxOptions): {
  mounts: readonly BoxMount[] | undefined;
  env: Readonly<Record<string, string>> | undefined;
} {
  if (options.egressSocket === undefined) return { mounts: options.mounts, env: options.env };
  return {
    mounts: [
      ...(options.mounts ?? []),
      { host: options.egressSocket, guest: EGRESS_SOCKET_IN_BOX, readOnly: false },
    ],
    env: { ...egressEnv(), ...options.env },
  };
}
