import { constants, accessSync, readFileSync } from 'node:fs';
import {
  GUEST_SECCOMP_FILTER,
  GUEST_SECCOMP_LOADER_NATIVE,
  SECCOMP_ENV,
} from '../protocol/guest-seccomp.js';

/**
 * Whether this VM guest's commands run under the sandbox filter (protocol/guest-seccomp.ts),
 * decided once at start: the host names the filter's sha256 on the kernel command line, init
 * passes it in SECCOMP_ENV (which commands do not inherit), and the image's copy must match it.
 * A mismatch or a missing file ends the agent, and with it the VM's start: the host asked for a
 * filter this guest cannot give, so no command may run. bwrap and gVisor boxes apply the filter
 * outside the agent and never set the variable.
 *
 * The agent itself stays unfiltered: node cannot install a filter on itself, and the calls the
 * box is denied are ones the agent never makes on the box's behalf (it reads and writes files
 * and starts processes, each started process filtered before its exec). It shares uid 1000 with
 * them, so init sets Yama's ptrace_scope to 1 (image/init.ts): they cannot reach its memory.
 */
export const guestFilterSha256: string | undefined = readFilter();

/**
 * Whether the image has the compiled loader (protocol/guest-seccomp-native.ts): the same filter
 * and argv as the python3 one, without an interpreter's start-up in front of every command.
 */
export const nativeLoader: boolean =
  guestFilterSha256 !== undefined && executable(GUEST_SECCOMP_LOADER_NATIVE);

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function readFilter(): string | undefined {
  const wanted = process.env[SECCOMP_ENV];
  delete process.env[SECCOMP_ENV];
  if (wanted === undefined || wanted === '') return undefined;
  let got: string;
  try {
    // Loaded here, not imported: node:crypto (and, through an import's namespace, WebCrypto)
    // is a quarter of the agent's own start-up, and only a VM guest ever hashes its filter.
    const { createHash } = process.getBuiltinModule('node:crypto');
    got = createHash('sha256').update(readFileSync(GUEST_SECCOMP_FILTER)).digest('hex');
  } catch (error) {
    return refuse(`cannot read ${GUEST_SECCOMP_FILTER}: ${(error as Error).message}`);
  }
  if (got !== wanted)
    return refuse(`${GUEST_SECCOMP_FILTER} has sha256 ${got}, the host compiled ${wanted}`);
  return got;
}

function refuse(why: string): never {
  process.stderr.write(
    `ironclaw guest agent: the host asked for its seccomp filter and this image cannot apply it (${why}); rebuild the image (npm run build, then a box start rebuilds it)\n`,
  );
  process.exit(1);
}
