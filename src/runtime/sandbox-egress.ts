import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { IronClawError, unwrap } from '../core/errors.js';
import { parseAllowRules } from '../core/net/allow-rule.js';
import { EmptyResultSchema } from '../protocol/guest-api.js';
import type { RpcClient } from '../protocol/rpc-client.js';
import type { BoxProcess } from '../host/box-process.js';
import type { PortFloorWindow } from '../host/port-floor.js';
import { defaultStateDir, ensureStateDir, rootSharedDir } from '../host/state-dir.js';
import { auditEgress } from '../network/audit-egress.js';
import { startEgressProxy } from '../network/egress-proxy.js';
import { approvingDecider, type EgressApprovalContext } from './egress-approval.js';

/** A sandbox's own egress proxy: its socket (bound into the box) and how to stop it. */
export interface SandboxEgress {
  socket: string;
  close(): Promise<void>;
}

/**
 * Starts the egress proxy of one sandbox, allowing what `allowNet` lists (parsed first: a bad
 * rule is the caller's error, before anything starts), with every connection audited. Its Unix
 * socket lives in a directory of its own that the box's host uid can reach (a box whose driver
 * binds it in connects as that uid; a VM's streams are joined to it by this process): as root, under
 * `<state dir>-egress` (root's, 0711), the socket given to that uid; otherwise under the state
 * directory, where the box runs as the caller.
 */
export async function startSandboxEgress(
  id: string,
  allowNet: readonly string[],
  boxUid: number | undefined,
  approval?: EgressApprovalContext,
): Promise<SandboxEgress> {
  const rules = unwrap(parseAllowRules(allowNet));
  const base =
    boxUid === undefined
      ? await userBase()
      : await rootSharedDir(`${defaultStateDir()}-egress`, 'egress sockets');
  // Short: the socket path must fit in sockaddr_un.
  const dir = await mkdtemp(join(base, `${id.slice(0, 16)}-`));
  try {
    if (boxUid !== undefined) await chmod(dir, 0o711);
    const socket = join(dir, 'proxy.sock');
    const proxy = await startEgressProxy({
      socketPath: socket,
      sandbox: id,
      rules,
      ...(approval ? { decider: approvingDecider(rules, approval) } : {}),
      onConnection: auditEgress,
    });
    if (boxUid !== undefined) await chown(socket, boxUid, boxUid);
    await chmod(socket, 0o600);
    return {
      socket,
      close: async () => {
        await proxy.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Where a box's resolver listens: /etc/resolv.conf in every box says 127.0.0.1, port 53. */
const DNS_PORT = 53;

/**
 * Opens port 53 of the box's own network namespace to its unprivileged processes (the driver's
 * lowerPortFloor), begun as soon as the box exists, so that the host's helper starts while the
 * agent does. The window is closed by startBoxNetwork, or by the caller on a failed start.
 */
export function openDnsPort(box: BoxProcess, signal: AbortSignal): Promise<PortFloorWindow> {
  if (!box.lowerPortFloor)
    return Promise.reject(
      new IronClawError(
        'POLICY_UNENFORCEABLE',
        `the ${box.isolation.driver} driver cannot open port ${DNS_PORT} in its box for the DNS stub, so it cannot give the box egress`,
      ),
    );
  return box.lowerPortFloor(DNS_PORT, signal);
}

/**
 * The box's side of egress, once its agent answers: 127.0.0.1:3128 bridged to the proxy's
 * socket, and the DNS stub on 127.0.0.1:53, so that a tool that looks a name up before it uses
 * the proxy gets the sentinel address instead of a failure, and no query leaves the box.
 *
 * Only boxes with egress get the stub. A box without has no proxy to hand a name to: a sentinel
 * answer would only turn "cannot resolve" into a connect to a dead address, a worse error, and
 * lowering the port floor costs a process on the start-up path of every box. Its resolv.conf
 * names the same 127.0.0.1, where nothing listens: a lookup is refused at once.
 *
 * The port floor is lowered only while the agent binds and is put back before any command
 * runs, so the workload never gets a port below 1024 of its own, and no capability at all; a
 * floor that cannot be put back fails the start.
 *
 * Resolves to why the box has no stub (a driver with no floor to lower whose bind was refused),
 * or undefined when it serves: the box's isolation report says which.
 */
export async function startBoxNetwork(
  client: RpcClient,
  bridge: Record<string, unknown>,
  dnsPort: Promise<PortFloorWindow> | undefined,
  signal: AbortSignal,
): Promise<string | undefined> {
  await client.request('net_bridge', bridge, EmptyResultSchema, { signal });
  if (dnsPort === undefined) {
    // No floor to lower. gVisor's netstack (runsc 20221219) lets an unprivileged process bind
    // below 1024 in the box's own loopback, so the agent binds 53 as it is. Where the bind is
    // refused anyway the box goes without the stub: a lookup there fails, and the proxy, given
    // names, still works.
    return client.request('dns_stub', { port: DNS_PORT }, EmptyResultSchema, { signal }).then(
      () => undefined,
      (error: unknown) => (error instanceof Error ? error.message : String(error)),
    );
  }
  const window = await dnsPort;
  try {
    await client.request('dns_stub', { port: DNS_PORT }, EmptyResultSchema, { signal });
  } finally {
    await window.close();
  }
  return undefined;
}

async function userBase(): Promise<string> {
  return ensureStateDir(join(await ensureStateDir(defaultStateDir()), 'egress'));
}
