import { chmod, chown, lstat, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { IronClawError, unwrap } from '../core/errors.js';
import { parseAllowRules } from '../core/net/allow-rule.js';
import { defaultStateDir, ensureStateDir } from '../host/state-dir.js';
import { auditEgress } from '../network/audit-egress.js';
import { startEgressProxy } from '../network/egress-proxy.js';

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
): Promise<SandboxEgress> {
  const rules = unwrap(parseAllowRules(allowNet));
  const base = boxUid === undefined ? await userBase() : await rootBase();
  // Short: the socket path must fit in sockaddr_un.
  const dir = await mkdtemp(join(base, `${id.slice(0, 16)}-`));
  try {
    if (boxUid !== undefined) await chmod(dir, 0o711);
    const socket = join(dir, 'proxy.sock');
    const proxy = await startEgressProxy({
      socketPath: socket,
      sandbox: id,
      rules,
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

async function userBase(): Promise<string> {
  return ensureStateDir(join(await ensureStateDir(defaultStateDir()), 'egress'));
}

/** `<state dir>-egress`: root's, 0711 (enterable by the box's uid, not listable), or refused. */
async function rootBase(): Promise<string> {
  const base = `${defaultStateDir()}-egress`;
  await mkdir(base, { recursive: true, mode: 0o711 });
  const info = await lstat(base);
  if (!info.isDirectory() || info.uid !== 0 || (info.mode & 0o777) !== 0o711)
    throw new IronClawError(
      'STATE_DIR_UNSAFE',
      `refusing to keep egress sockets in ${base}: it must be a directory of root's with mode 711; remove it (IronClaw makes it again)`,
    );
  return base;
}
