import { IronClawError } from '../core/errors.js';
import { formatBytes } from '../core/units.js';
import { DAEMON_METHODS } from '../protocol/daemon-api.js';
import type { RpcClient } from '../protocol/rpc-client.js';
import { loadConfig } from '../host/config-file.js';

/**
 * The daemon read its configuration (file and IRONCLAW_* variables) when it started; a
 * `sandbox create` run with another one (IRONCLAW_DRIVER=qemu while the daemon runs bwrap)
 * would get the daemon's silently. Refuses that, saying how to get what was meant. What the
 * request names itself (--driver, --memory) is what it gets, and is not compared.
 */
export async function assertDaemonHonours(
  rpc: RpcClient,
  request: { driver: boolean; memory: boolean },
): Promise<void> {
  if (request.driver && request.memory) return;
  const ours = await loadConfig();
  const { config: theirs } = await rpc.request('sandboxes', {}, DAEMON_METHODS.sandboxes.result);
  if (theirs === undefined) return;
  const restart =
    'or stop the daemon (`ironclaw daemon --stop`; its sandboxes go with it) so the next command starts one with the new configuration';
  if (!request.driver && ours.driver !== theirs.driver)
    throw new IronClawError(
      'INVALID_ARGUMENT',
      `your configuration says driver ${ours.driver}${process.env.IRONCLAW_DRIVER === undefined ? '' : ' (IRONCLAW_DRIVER)'}, but the running daemon was started with ${theirs.driver} and would use that; pass --driver ${ours.driver} for this sandbox, ${restart}`,
    );
  const theirMemory = theirs.defaultMemoryBytes ?? undefined;
  if (!request.memory && ours.defaultMemoryBytes !== theirMemory)
    throw new IronClawError(
      'INVALID_ARGUMENT',
      `your configuration says a default memory limit of ${describe(ours.defaultMemoryBytes)}${process.env.IRONCLAW_MEMORY === undefined ? '' : ' (IRONCLAW_MEMORY)'}, but the running daemon was started with ${describe(theirMemory)} and would use that; pass --memory for this sandbox, ${restart}`,
    );
}

function describe(bytes: number | undefined): string {
  return bytes === undefined ? 'none' : formatBytes(bytes);
}
