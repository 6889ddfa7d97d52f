import { closeSync, openSync } from 'node:fs';
import { flushCompileCache } from 'node:module';
import { IronClawError } from '../../core/errors.js';
import { resolveLimits } from '../../core/limits.js';
import { SLOT_CHANNEL, bwrapCommand } from './command.js';
import { assertNoInheritedFds } from '../../host/inherited-fds.js';

/** The driver whose boxes a one-shot `exec` can become (this process turns into the box). */
export const HAND_OVER_DRIVER = 'bwrap';

/** The highest descriptor a POSIX sh (dash) can name in a redirection. */
const HIGHEST_SH_FD = 9;

export interface HandOverOptions {
  /** Host uid the box runs as when this process runs as root. */
  rootBoxUid: number;
  /** What the launcher reports when the box did not start: exit status, and a message line. */
  startFailure: { status: number; message: string };
}

/**
 * Replaces this process with the box of a one-shot command, so a cold `ironclaw exec` pays for
 * one node start-up and no supervisor (loading child_process alone costs several ms). Only for
 * a run that needs no supervisor: default limits, no cgroup, no timeout, no workspace, the
 * caller's stdio. The box's command line is the supervised path's, from the same builder.
 *
 * Resolves to false, having changed nothing, when this process cannot hand over: a node
 * without process.execve (before 22.15), or, as root, box files the box's uid cannot read (the
 * launcher opens them as that uid; the supervised path opens them as root).
 */
export async function handOverToBwrap(
  argv: readonly string[],
  options: HandOverOptions,
): Promise<false> {
  if (typeof process.execve !== 'function') return false;
  await assertNoInheritedFds();
  const command = await bwrapCommand({
    limits: resolveLimits(),
    payload: { kind: 'command', argv, stdio: 'inherit' },
    env: {},
    mounts: [],
    seccomp: 'sandbox',
  });
  const fds = command.files.map((file) => file.fd);
  const paths = command.files.map((file) => file.path);
  if (fds.some((fd) => fd > HIGHEST_SH_FD)) return false;
  // node writes its compile cache (bin/ironclaw.cjs turns it on) at exit, and execve is no
  // exit: write it now, while a root process still has the uid that owns the cache directory.
  flushCompileCache();
  if (process.getuid?.() === 0 && !becomeBoxUser(options.rootBoxUid, paths)) return false;
  resetIgnoredSignals();
  const script = launcher(fds, options.startFailure);
  process.execve('/bin/sh', ['/bin/sh', '-c', script, 'ironclaw', ...paths, ...command.argv], {});
  throw new IronClawError('INTERNAL', 'process.execve returned without replacing the process');
}

/**
 * The shell that stands in for node: it opens the box's files at their descriptors (node opens
 * everything close-on-exec, and execve keeps only 0-2), runs the box, and tells a box that did
 * not start from a command that failed, by the shim's start mark, as the supervisor does. The
 * mark comes through the command substitution's pipe, placed at the shim's descriptor 3; the
 * caller's stdout waits at 9 meanwhile, and a file then takes 9 over (dash names 0-9 only).
 * $1… are the files, then the command (`prlimit … -- bwrap …`).
 */
function launcher(fds: readonly number[], failure: HandOverOptions['startFailure']): string {
  const saved = HIGHEST_SH_FD;
  const opens = fds.map((fd, index) => `${fd}<"$${index + 1}"`);
  if (!fds.includes(saved)) opens.push(`${saved}>&-`);
  return [
    `exec ${saved}>&1`,
    `started=$(exec ${SLOT_CHANNEL}>&1 1>&${saved} ${opens.join(' ')}; shift ${fds.length}; exec "$@")`,
    'status=$?',
    '[ "$started" = . ] && exit "$status"',
    `printf '%s (bwrap exit code %s)\\n' ${shellQuote(failure.message)} "$status" >&2`,
    `exit ${failure.status}`,
  ].join('\n');
}

/** One word for sh, whatever the text holds. */
function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/**
 * As root the box runs as another uid with no supplementary groups, as spawn's uid and gid
 * options make it. The launcher opens the box's files as that uid, so first see, with only the
 * effective ids switched, that it can; if not, stay root and let the supervised path open them.
 * Synchronous: part of the CLI's start-up.
 */
function becomeBoxUser(uid: number, paths: readonly string[]): boolean {
  // Each of these calls stops every thread of node, so they are as few as the check allows.
  const groups = process.getgroups?.() ?? [];
  const egid = process.getegid?.() ?? 0;
  process.setgroups?.([]);
  process.setegid?.(uid);
  process.seteuid?.(uid);
  const readable = paths.every(canOpen);
  process.seteuid?.(0);
  if (!readable) {
    process.setegid?.(egid);
    process.setgroups?.(groups);
    return false;
  }
  process.setgid?.(uid);
  process.setuid?.(uid);
  return true;
}

function canOpen(path: string): boolean {
  try {
    closeSync(openSync(path, 'r'));
    return true;
  } catch {
    return false;
  }
}

/**
 * node ignores SIGPIPE and SIGXFSZ; execve keeps an ignored signal ignored (spawn resets it),
 * and a shell cannot undo that. A listener makes them caught instead, and execve resets a
 * caught signal to its default, so the box starts with the dispositions a spawned box has.
 */
function resetIgnoredSignals(): void {
  for (const name of ['SIGPIPE', 'SIGXFSZ'] as const) process.on(name, () => undefined);
}
