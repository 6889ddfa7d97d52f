import { type ChildProcess, spawn } from 'node:child_process';
import { Duplex } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';

/** The guest's python3 (the root filesystem always has it: image-userland.ts). */
const PYTHON = '/usr/bin/python3';
/** Waits before starting a relay again after one failed to listen: short at first. */
const FIRST_RETRY_MS = 20;
const MAX_RETRY_MS = 1000;
/** How long a relay may take to exit once its session is over. */
const RELAY_EXIT_GRACE_MS = 1000;
/** What is kept of a relay's complaint on stderr for the log. */
const MAX_STDERR_BYTES = 2048;

/**
 * The relay: listens on the address given (an AF_VSOCK port; an AF_UNIX path in tests), takes
 * one connection, closes its listener and copies bytes between that connection and its stdin and
 * stdout until either side ends, then exits. Node cannot open an AF_VSOCK socket (libuv knows
 * only TCP, UDP and Unix sockets, and will not even wrap an inherited vsock descriptor), python's
 * socket module can. Exit status 0 ends a session; anything else means it could not listen.
 */
const RELAY = String.raw`
import os, socket, sys, threading
family, where = sys.argv[1], sys.argv[2]
if family == "vsock":
    server = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    server.bind((socket.VMADDR_CID_ANY, int(where)))
else:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.unlink(where)
    except FileNotFoundError:
        pass
    server.bind(where)
server.listen(1)
conn, _ = server.accept()
server.close()

def to_host():
    try:
        while True:
            data = os.read(0, 65536)
            if not data:
                break
            conn.sendall(data)
    except OSError:
        pass
    try:
        conn.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    os._exit(0)

threading.Thread(target=to_host, daemon=True).start()
try:
    while True:
        data = conn.recv(65536)
        if not data:
            break
        view = memoryview(data)
        while view:
            view = view[os.write(1, view):]
except OSError:
    pass
os._exit(0)
`;

/** Where the relay listens: the agent's vsock port in a Firecracker VM. */
export type RelayAddress = { vsockPort: number } | { unixPath: string };

/**
 * Serves host sessions arriving on `address` for as long as the guest runs (or until `signal`
 * fires): each session is one relay process, whose stdout and stdin `serve` gets as the session's
 * stream; when the host disconnects the relay exits, the stream ends, and a new relay listens for
 * the next session (after a snapshot restore Firecracker resets every vsock connection, and the
 * host dials again). Between two sessions nobody listens for a moment: the host's dialer retries.
 */
export async function serveRelayed(
  address: RelayAddress,
  serve: (stream: Duplex) => Promise<void>,
  log: (message: string) => void,
  options: { signal?: AbortSignal } = {},
): Promise<void> {
  const [family, where] =
    'vsockPort' in address ? ['vsock', String(address.vsockPort)] : ['unix', address.unixPath];
  let wait = FIRST_RETRY_MS;
  while (!options.signal?.aborted) {
    const relay = spawn(PYTHON, ['-I', '-S', '-c', RELAY, family, where], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: {},
    });
    const exited = exitOf(relay);
    const complaint = collect(relay);
    const stop = (): void => void relay.kill('SIGKILL');
    options.signal?.addEventListener('abort', stop, { once: true });
    try {
      const stream = Duplex.from({ readable: relay.stdout, writable: relay.stdin });
      stream.on('error', () => undefined); // a reset connection ends the session like EOF
      await serve(stream);
      stream.destroy();
    } catch (error) {
      log(`${family} ${where}: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      options.signal?.removeEventListener('abort', stop);
    }
    // The session is over on the agent's side too: the relay sees its stdin end and exits with
    // its connection; one that does not within the grace time is killed.
    let status = await Promise.race([exited, delay(RELAY_EXIT_GRACE_MS).then(() => undefined)]);
    if (status === undefined) {
      relay.kill('SIGKILL');
      status = await exited;
    }
    if (status === 0) {
      wait = FIRST_RETRY_MS;
      continue;
    }
    if (options.signal?.aborted) break;
    log(`the ${family} relay on ${where} failed (${status}): ${complaint() || 'no message'}`);
    await delay(wait, undefined, { signal: options.signal }).catch(() => undefined);
    wait = Math.min(wait * 2, MAX_RETRY_MS);
  }
}

function exitOf(child: ChildProcess): Promise<number | string> {
  return new Promise((resolve) => {
    child.once('error', (error) => resolve(error.message));
    child.once('close', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
}

function collect(child: ChildProcess): () => string {
  let text = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    text = (text + chunk).slice(-MAX_STDERR_BYTES);
  });
  // A traceback's last line names the exception (PermissionError: …); one line per log entry.
  return () => text.trim().split('\n').at(-1)?.trim() ?? '';
}
