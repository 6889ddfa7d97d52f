import { lstat } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { IronClawError } from '../core/errors.js';
import { RpcClient } from '../protocol/rpc-client.js';
import { startInBackground } from '../host/background-process.js';
import { defaultStateDir, ensureStateDir } from '../host/state-dir.js';
import { daemonSocketPath } from '../runtime/daemon.js';

const START_TIMEOUT_MS = 15_000;

/** Connects to the daemon, starting it in the background first if none is running. */
export async function connectDaemon(options: { autoStart: boolean }): Promise<RpcClient> {
  const stateDir = await ensureStateDir(defaultStateDir());
  const socketPath = daemonSocketPath(stateDir);
  const first = await tryConnect(socketPath);
  if (first) return new RpcClient(first, { name: 'the IronClaw daemon' });
  if (!options.autoStart)
    throw new IronClawError(
      'DAEMON_UNAVAILABLE',
      `no IronClaw daemon is running (no socket at ${socketPath})`,
    );

  const entry = process.argv[1];
  if (!entry)
    throw new IronClawError(
      'INTERNAL',
      'cannot find the ironclaw entry script to start the daemon',
    );
  // A socket nobody answers on: the last daemon ended without stopping (a clean stop removes
  // it), and took its sandboxes with it. Starting a new one is right; doing it silently is not.
  const crashed = await lstat(socketPath).then(
    () => true,
    () => false,
  );
  const logPath = join(stateDir, 'daemon.log');
  const daemon = await startInBackground(entry, ['daemon'], logPath);
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const socket = await tryConnect(socketPath);
    if (socket) {
      if (crashed)
        process.stderr.write(
          `ironclaw: the previous daemon ended without being stopped, and its sandboxes with it (${logPath} may say why); started a new one\n`,
        );
      return new RpcClient(socket, { name: 'the IronClaw daemon' });
    }
    const exited = daemon.exited();
    if (exited !== undefined) {
      // Fail at once, with the daemon's own words, rather than waiting out the timeout.
      const log = (await daemon.logged()).trim();
      throw new IronClawError(
        'DAEMON_UNAVAILABLE',
        `the daemon exited while starting (${exited}): ${log ? log.split('\n').slice(-5).join(' | ') : 'it wrote nothing to its log'}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new IronClawError(
    'DAEMON_UNAVAILABLE',
    `the daemon did not open ${socketPath} within ${START_TIMEOUT_MS / 1000} s; see ${join(stateDir, 'daemon.log')}`,
  );
}

function tryConnect(path: string): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', () => resolve(undefined));
  });
}
