import { lstat, mkdir } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { IronClawError } from '../core/errors.js';

/**
 * Where IronClaw keeps runtime state (the daemon's socket, its log): IRONCLAW_STATE_DIR, else
 * /run/ironclaw for root, $XDG_RUNTIME_DIR/ironclaw, or a per-user directory under the temp dir.
 */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.IRONCLAW_STATE_DIR) return env.IRONCLAW_STATE_DIR;
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) return '/run/ironclaw';
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'ironclaw');
  return join(tmpdir(), `ironclaw-${uid}`);
}

/**
 * Where IronClaw keeps what must outlive a reboot (the tool lists `wrap` pinned):
 * IRONCLAW_DATA_DIR, else /var/lib/ironclaw for root, $XDG_STATE_HOME/ironclaw, or
 * ~/.local/state/ironclaw. The runtime state directory is often a tmpfs, so it will not do.
 */
export function persistentStateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.IRONCLAW_DATA_DIR) return env.IRONCLAW_DATA_DIR;
  if ((process.getuid?.() ?? 0) === 0) return '/var/lib/ironclaw';
  return join(env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state'), 'ironclaw');
}

/**
 * Makes sure the state directory exists, is a real directory (not a symlink), belongs to this
 * user and is closed to everyone else (0700). A directory that fails any check is refused, not
 * repaired: in a shared /tmp, someone else may have made it first.
 */
export async function ensureStateDir(path: string): Promise<string> {
  await mkdir(path, { recursive: true, mode: 0o700 });
  const info = await lstat(path);
  const uid = process.getuid?.() ?? 0;
  const problem = !info.isDirectory()
    ? 'it is not a directory (a symbolic link?)'
    : info.uid !== uid
      ? `it belongs to uid ${info.uid}, not to you (uid ${uid})`
      : (info.mode & 0o077) !== 0
        ? `its mode is ${(info.mode & 0o777).toString(8)}, open to other users`
        : undefined;
  if (problem) {
    throw new IronClawError(
      'STATE_DIR_UNSAFE',
      `refusing to use state directory ${path}: ${problem}; remove it or set IRONCLAW_STATE_DIR to a directory with mode 0700 that you own`,
    );
  }
  return path;
}

/**
 * `base`, made if missing, for the runtime directories of boxes whose processes run as other
 * uids than root (gVisor's runsc as a box uid, a VMM as nobody): a real directory of root's,
 * mode 0711 (enterable, not listable), or refused, naming the `what` it would hold.
 */
export async function rootSharedDir(base: string, what: string): Promise<string> {
  await mkdir(base, { recursive: true, mode: 0o711 });
  const info = await lstat(base);
  const problem = !info.isDirectory()
    ? 'it is not a directory (a symbolic link?)'
    : info.uid !== 0
      ? `it belongs to uid ${info.uid}, not to root`
      : (info.mode & 0o777) !== 0o711
        ? `its mode is ${(info.mode & 0o777).toString(8)}, not 711`
        : undefined;
  if (problem)
    throw new IronClawError(
      'STATE_DIR_UNSAFE',
      `refusing to keep ${what} in ${base}: ${problem}; remove it (IronClaw makes it again)`,
    );
  return base;
}
