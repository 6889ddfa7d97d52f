import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, realpath, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { type Check, IronClawError } from '../core/errors.js';
import type { BoxMount } from './box-process.js';

/**
 * Where a mount may not go: the kernel's views (/proc, /dev, /sys), IronClaw's own files in the
 * box (/.ironclaw), and the userland itself (/usr, /etc as a whole: a box without them cannot
 * run anything). Below /usr or /etc is allowed where a directory already exists to bind over.
 */
const FORBIDDEN_UNDER = ['/proc', '/dev', '/sys', '/.ironclaw'];
const FORBIDDEN_EXACT = ['/', '/usr', '/etc'];

/** A guest path must be absolute, normalised, and outside the box's own machinery. */
export function checkGuestPath(guest: string): Check<string> {
  const bad = (why: string): Check<string> => ({
    ok: false,
    code: 'INVALID_ARGUMENT',
    message: `cannot mount at ${JSON.stringify(guest)}: ${why}`,
  });
  if (guest.includes('\0')) return bad('the path contains a NUL byte');
  if (!guest.startsWith('/')) return bad('the path in the box must be absolute, e.g. /data');
  if (posix.normalize(guest) !== guest || (guest.length > 1 && guest.endsWith('/')))
    return bad(
      `write it normalised, as ${JSON.stringify(posix.normalize(guest).replace(/(.)\/$/, '$1'))}`,
    );
  if (FORBIDDEN_EXACT.includes(guest)) return bad('the box needs its own copy of that directory');
  const under = FORBIDDEN_UNDER.find((root) => guest === root || guest.startsWith(`${root}/`));
  if (under) return bad(`${under} belongs to the sandbox itself; choose a path such as /data`);
  return { ok: true, value: guest };
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** Names must be plain identifiers; IRONCLAW_* belongs to the box's own plumbing. */
export function checkBoxEnv(env: Readonly<Record<string, string>>): Check<Record<string, string>> {
  for (const [name, value] of Object.entries(env)) {
    if (!ENV_NAME.test(name) || name.startsWith('IRONCLAW_'))
      return {
        ok: false,
        code: 'INVALID_ARGUMENT',
        message: `invalid environment variable name ${JSON.stringify(name)} for the box: use letters, digits and _ (names starting with IRONCLAW_ are reserved)`,
      };
    if (value.includes('\0'))
      return {
        ok: false,
        code: 'INVALID_ARGUMENT',
        message: `environment variable ${name} contains a NUL byte`,
      };
  }
  return { ok: true, value: { ...env } };
}

/**
 * Checks every mount before the box is built: guest paths valid and distinct, host paths
 * existing (resolved, so the box gets what the user named and not a symlink swapped in later),
 * and readable — writable too for a read-write mount — by the host uid the box runs as. As root
 * the box runs as another uid (its own from the box range by default), so that uid is asked, by running `test` as it:
 * the kernel's own answer, ACLs and all, rather than a guess from mode bits.
 */
export async function checkBoxMounts(
  mounts: readonly BoxMount[],
  options: { runAsUid: number | undefined },
): Promise<BoxMount[]> {
  const seen = new Set<string>();
  const checked: BoxMount[] = [];
  for (const mount of mounts) {
    const guest = checkGuestPath(mount.guest);
    if (!guest.ok) throw new IronClawError(guest.code, guest.message);
    if (seen.has(mount.guest))
      throw new IronClawError('INVALID_ARGUMENT', `two mounts name ${mount.guest} in the box`);
    seen.add(mount.guest);
    let host: string;
    let isDir: boolean;
    try {
      host = await realpath(mount.host);
      isDir = (await stat(host)).isDirectory();
    } catch (error) {
      throw new IronClawError(
        'INVALID_ARGUMENT',
        `cannot mount ${mount.host}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : (error as Error).message}`,
        { cause: error },
      );
    }
    const want = mount.readOnly ? 'read' : 'read and write';
    if (!(await canAccess(host, { isDir, write: !mount.readOnly, uid: options.runAsUid }))) {
      const who =
        options.runAsUid === undefined
          ? 'you'
          : `host uid ${options.runAsUid}, which the box runs as`;
      throw new IronClawError(
        'POLICY_UNENFORCEABLE',
        `cannot mount ${mount.host}: ${who} cannot ${want} it${isDir ? ' (a directory needs r-x, and every parent x)' : ''}; make it accessible to that uid (e.g. chmod o+rX on it and its parents), or mount another path`,
      );
    }
    checked.push({ host, guest: mount.guest, readOnly: mount.readOnly });
  }
  return checked;
}

async function canAccess(
  path: string,
  options: { isDir: boolean; write: boolean; uid: number | undefined },
): Promise<boolean> {
  if (options.uid === undefined) {
    const mode =
      constants.R_OK | (options.isDir ? constants.X_OK : 0) | (options.write ? constants.W_OK : 0);
    return access(path, mode).then(
      () => true,
      () => false,
    );
  }
  const tests = ['-r', path, ...(options.isDir ? ['-a', '-x', path] : [])];
  if (options.write) tests.push('-a', '-w', path);
  const child = spawn('test', tests, {
    stdio: 'ignore',
    env: {},
    uid: options.uid,
    gid: options.uid,
  });
  return new Promise((resolve) => {
    child.once('error', () => resolve(false));
    child.once('exit', (code) => resolve(code === 0));
  });
}
