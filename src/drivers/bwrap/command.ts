import { join } from 'node:path';
import type { Limits } from '../../core/limits.js';
import type { BoxMount, BoxPayload } from '../../host/box-process.js';
import { AGENT_PATH, BOX_ENV, BOX_ETC_FILES } from '../../host/box-env.js';
import { bwrapArgs, prlimitArgs } from './args.js';
import { detectHostLayout } from '../../host/host-layout.js';
import { boxEtcDir, guestBundlePath } from '../../host/package-files.js';
import { type SeccompChoice, sandboxSeccompFilter } from '../../host/seccomp-filter.js';

/*
 * The one place a bwrap box's command line is made, for both ways a box starts: supervised
 * (bwrap-box.ts: node spawns it and watches it) and handed over (bwrap-hand-over.ts: a one-shot
 * `ironclaw exec` replaces itself with it). Whatever isolates the box is decided here, so the
 * two cannot drift apart. This module spawns nothing, so the hand-over loads no child_process.
 */

/**
 * The command payload runs behind this POSIX sh shim: it marks "the sandbox is up" on fd 3,
 * then execs the command, so the shell reports 126/127 for cannot-execute/not-found and any
 * failure before the mark is the sandbox's own.
 */
const SHIM = 'printf . >&3; exec 3>&-; exec "$@"';

/** Descriptor of the agent's channel, or of the command shim's start mark. */
export const SLOT_CHANNEL = 3;
/** The workspace's tar stream, read by the shim: below 10, the most a POSIX sh can name. */
const SLOT_WORKSPACE = 4;
/**
 * Where the shim, once it has unpacked the workspace, waits for the host to say `ok`: the host's
 * tar finished whole. A tar that skipped a file it could not read still writes an archive that
 * unpacks cleanly, and only its exit status (2) tells: without the word the box stops (125).
 */
const SLOT_WORKSPACE_WHOLE = 5;

export interface BwrapCommandOptions {
  limits: Limits;
  payload: BoxPayload;
  /** Variables added to the box's fixed environment, already checked (checkBoxEnv). */
  env: Readonly<Record<string, string>>;
  /** Host paths bound into the box, already checked (checkBoxMounts). */
  mounts: readonly BoxMount[];
  seccomp: SeccompChoice;
  /**
   * Present when node supervises the box: bwrap then reports the box's pid on an info
   * descriptor and, with a cgroup, waits on a block descriptor until the cgroup is attached.
   */
  supervisor?: { cgroup: boolean };
}

export interface BwrapCommand {
  /** `prlimit <rlimits> -- bwrap <box>`: the whole command line, run with an empty environment. */
  argv: [program: string, ...args: string[]];
  /** Files bwrap copies into the box, each to be opened read-only at its descriptor. */
  files: { path: string; fd: number }[];
  /**
   * Descriptors of the workspace stream and of the host's word that it is whole (before the
   * files), and the supervisor's (after them).
   */
  slots: {
    workspace: number | undefined;
    workspaceWhole: number | undefined;
    info: number | undefined;
    block: number | undefined;
  };
  /** For the isolation report: the seccomp filter's numbers, if one is on. */
  seccompSummary: string | undefined;
}

/**
 * The command line of one box and the files it reads. Descriptors: 3 is the channel, 4 and 5 the
 * workspace stream and its `ok` when there is one, then the files, then the supervisor's.
 */
export async function bwrapCommand(options: BwrapCommandOptions): Promise<BwrapCommand> {
  const { payload } = options;
  const [layout, etcDir, agentPath, filter] = await Promise.all([
    detectHostLayout(),
    boxEtcDir(),
    payload.kind === 'agent' ? guestBundlePath() : undefined,
    options.seccomp === 'sandbox' ? sandboxSeccompFilter() : undefined,
  ]);
  const workspace =
    payload.kind === 'command' && payload.workspaceDir !== undefined ? SLOT_WORKSPACE : undefined;
  const workspaceWhole = workspace === undefined ? undefined : SLOT_WORKSPACE_WHOLE;
  const files: { path: string; fd: number }[] = [];
  const firstFile = (workspaceWhole ?? SLOT_CHANNEL) + 1;
  const add = (path: string): number => {
    const fd = firstFile + files.length;
    files.push({ path, fd });
    return fd;
  };
  // A plain command (no agent) has no egress, so no DNS stub to name: without resolv.conf glibc
  // asks 127.0.0.1 all the same, where nothing listens. Leaving it out keeps a one-shot box's
  // descriptors within what sh can name, which the hand-over needs (hand-over.ts). A box started
  // ahead of its command (piped stdin) stands in for a sandbox: it gets the sandbox's /etc.
  const etcNames = BOX_ETC_FILES.filter(
    (name) => payload.kind === 'agent' || payload.stdin === 'pipe' || name !== 'resolv.conf',
  );
  const etc = Object.fromEntries(etcNames.map((name) => [name, add(join(etcDir, name))]));
  const agent = agentPath === undefined ? undefined : add(agentPath);
  const seccompFd = filter === undefined ? undefined : add(filter.path);
  const info = options.supervisor ? firstFile + files.length : undefined;
  const block = info !== undefined && options.supervisor?.cgroup ? info + 1 : undefined;
  const shim =
    workspace === undefined
      ? SHIM
      : `tar -xf - -C /workspace --no-same-owner <&${workspace} || exit 125; exec ${workspace}<&-; ` +
        `read -r whole <&${workspaceWhole} && [ "$whole" = ok ] || exit 125; exec ${workspaceWhole}<&-; ${SHIM}`;
  const args = bwrapArgs({
    layout,
    limits: options.limits,
    data: agent === undefined ? { etc } : { etc, agent },
    env:
      payload.kind === 'agent'
        ? { ...BOX_ENV, ...options.env, IRONCLAW_AGENT_FD: String(SLOT_CHANNEL) }
        : { ...BOX_ENV, ...options.env },
    mounts: options.mounts,
    command:
      payload.kind === 'agent'
        ? [layout.nodePath, AGENT_PATH]
        : ['/bin/sh', '-c', shim, 'ironclaw', ...payload.argv],
    infoFd: info,
    blockFd: block,
    seccompFd,
  });
  return {
    argv: ['prlimit', ...prlimitArgs(options.limits), '--', bwrapPath(), ...args],
    files,
    slots: { workspace, workspaceWhole, info, block },
    seccompSummary: filter?.summary,
  };
}

/** The bwrap binary: IRONCLAW_BWRAP, or bwrap from PATH. */
function bwrapPath(): string {
  return process.env.IRONCLAW_BWRAP ?? 'bwrap';
}
