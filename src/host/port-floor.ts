import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { IronClawError } from '../core/errors.js';

/** An open window: the floor is lowered until `close` puts the old value back. */
export interface PortFloorWindow {
  close(): Promise<void>;
}

/**
 * Enters the network namespace of process argv[1] (after the user namespace that owns it) and sets that
 * network namespace's ip_unprivileged_port_start to argv[2]; says `lowered OLD`, waits for its
 * stdin to end, puts OLD back and says `restored`. Python because it can call setns and then
 * write without an exec in between: an exec as a uid other than 0 of the box's namespace (all
 * an unprivileged owner can be there; nsenter execs) drops the capabilities that setns gave,
 * and CAP_NET_ADMIN over the box's network namespace is what the sysctl asks for. Single
 * threaded, as setns into a user namespace requires.
 */
const SCRIPT = String.raw`
import ctypes, fcntl, os, sys
libc = ctypes.CDLL(None, use_errno=True)
def enter(fd, flag, what):
    if libc.setns(fd, flag) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), "setns(%s)" % what)
def main():
    net = os.open("/proc/%s/ns/net" % sys.argv[1], os.O_RDONLY | os.O_CLOEXEC)
    # NS_GET_USERNS: the user namespace that owns the network namespace, which bwrap may have
    # nested the box's own user namespace under.
    owner = fcntl.ioctl(net, 0xB701)
    enter(owner, 0x10000000, "user")
    enter(net, 0x40000000, "net")
    os.close(owner)
    os.close(net)
    path = "/proc/sys/net/ipv4/ip_unprivileged_port_start"
    with open(path) as f:
        old = f.read().strip()
    with open(path, "w") as f:
        f.write(sys.argv[2])
    print("lowered", old, flush=True)
    sys.stdin.read()
    with open(path, "w") as f:
        f.write(old)
    print("restored", flush=True)
try:
    main()
except OSError as e:
    sys.exit("%s: %s" % (e.filename or "error", e.strerror))
`;

/**
 * Lowers the unprivileged port floor (net.ipv4.ip_unprivileged_port_start) of the network
 * namespace of `pid`, a box's process, to `port` until the window is closed, so that the box's
 * own agent can bind a port below 1024 (the DNS stub's 53) with no capability at all. The
 * sysctl is per network namespace: the host's and every other box's stay as they are. Works
 * as root and as the unprivileged owner of the box's user namespace. Needs python3 on the host.
 */
export async function lowerPortFloor(
  pid: number,
  port: number,
  signal: AbortSignal,
): Promise<PortFloorWindow> {
  signal.throwIfAborted();
  // -I -S: no user site, no PYTHON* variables, no site module: nothing of the caller's Python
  // set-up runs with these privileges, and it starts faster.
  const child = spawn(await python(), ['-I', '-S', '-c', SCRIPT, String(pid), String(port)], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk.slice(0, 2000)));
  const exited = new Promise<number | null>((resolve) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      err ||= error.code === 'ENOENT' ? 'python3 is not installed' : error.message;
      resolve(null);
    });
    child.once('close', (code) => resolve(code));
  });
  const failure = (what: string): IronClawError =>
    new IronClawError(
      'SANDBOX_START_FAILED',
      `cannot ${what} the unprivileged port floor in the network namespace of box process ${pid}: ${err.trim() || 'no output'}; the box's DNS stub needs it (python3 on the host sets it)`,
    );
  const onAbort = (): void => void child.kill('SIGKILL');
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const lowered = await new Promise<boolean>((resolve) => {
      child.stdout.on('data', () => {
        if (out.includes('\n')) resolve(out.startsWith('lowered '));
      });
      void exited.then(() => resolve(out.startsWith('lowered ')));
    });
    signal.throwIfAborted();
    if (!lowered) throw failure('lower');
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  let closing: Promise<void> | undefined;
  return {
    close: () => {
      closing ??= (async () => {
        child.stdin.end();
        const code = await exited;
        if (code !== 0 || !out.includes('restored')) throw failure('restore');
      })();
      return closing;
    },
  };
}

let found: Promise<string> | undefined;

/** The system's python3 first: a version manager's shim on PATH (pyenv) takes far longer. */
function python(): Promise<string> {
  found ??= access(SYSTEM_PYTHON, constants.X_OK).then(
    () => SYSTEM_PYTHON,
    () => 'python3',
  );
  return found;
}

const SYSTEM_PYTHON = '/usr/bin/python3';
