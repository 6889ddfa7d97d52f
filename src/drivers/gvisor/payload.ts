import type { StdioOptions } from 'node:child_process';
import type { Duplex } from 'node:stream';
import { IronClawError } from '../../core/errors.js';
import type { BoxPayload } from '../../host/box-process.js';
import { WORKSPACE_TAR } from './bundle.js';
import type { RunscBox } from './runsc.js';
import { boxStdio, channelPair } from './stdio.js';

/**
 * The command payload's shim prints MARK to stderr once the box runs, then execs the command,
 * so sh reports 126/127 for cannot-execute/not-found. What precedes the mark on stderr is
 * runsc's (or the workspace copy's) and fails the start; the mark itself is never passed on.
 */
const MARK = Buffer.from('\x1eironclaw:started\x1e');
const SHIM = `printf '\\036ironclaw:started\\036' >&2; exec "$@"`;
const SHIM_WITH_WORKSPACE = `tar -xf ${WORKSPACE_TAR} -C /workspace --no-same-owner || exit 125; ${SHIM}`;

/**
 * The box's first process for the agent payload. The first process of a gVisor box is the box's
 * init, which inherits every orphan; node does not reap those, so a small sh does (its wait
 * collects any child) and runs the agent as its child. A background job's stdin would be
 * /dev/null, so the channel on fd 0 is passed through fd 3.
 */
const INIT = 'exec 3<&0; "$@" <&3 3<&- & exec 3<&-; wait $!';

export function agentArgs(nodePath: string, agentPath: string): string[] {
  return ['/bin/sh', '-c', INIT, 'ironclaw-init', nodePath, agentPath];
}

/** The box's first process for a command payload: the shim, then the command. */
export function commandArgs(payload: Extract<BoxPayload, { kind: 'command' }>): string[] {
  const shim = payload.workspace === undefined ? SHIM : SHIM_WITH_WORKSPACE;
  return ['/bin/sh', '-c', shim, 'ironclaw', ...payload.argv];
}

/** What runsc's stdio slots are for a payload, and our copies to drop once it has started. */
export interface PayloadIo {
  stdio: StdioOptions;
  /** Our end of the guest agent's channel (agent payload). */
  agent: Duplex | undefined;
  /** The box's stdout is a pipe whose output we copy on to our own stdout. */
  relayStdout?: boolean;
  /** Closes our copies of the descriptors runsc was given. Idempotent. */
  release(): Promise<void>;
}

/**
 * agent: stdin is one end of a socket pair (the framed channel), stdout is /dev/null so nothing
 * but frames can ever be mixed in, stderr is captured. command: the caller's stdin (and stdout
 * when inherited) re-opened for the box (see boxStdio), stderr through us for the start mark.
 */
export async function payloadIo(payload: BoxPayload, runtimeDir: string): Promise<PayloadIo> {
  if (payload.kind === 'agent') {
    const { host, box } = await channelPair(runtimeDir);
    return {
      stdio: [box, 'ignore', 'pipe'],
      agent: host,
      release: async () => {
        box.destroy();
      },
    };
  }
  const inherit = payload.stdio === 'inherit';
  const io = await boxStdio(inherit ? [0, 1] : [0]);
  const [stdin = 'ignore', stdout = 'inherit'] = io.fds;
  return {
    stdio: [
      stdin === 'relay' ? 'pipe' : stdin,
      !inherit || stdout === 'relay' ? 'pipe' : stdout,
      'pipe',
    ],
    agent: undefined,
    relayStdout: inherit && stdout === 'relay',
    release: () => io.close(),
  };
}

/**
 * Reads the box's stderr up to the shim's mark. Bytes before it go to the box's tail (quoted if
 * the start fails); bytes after it are put back for whoever reads stderr next. Rejects when
 * stderr ends without the mark (the box failed before its command started) or on `signal`.
 */
export async function waitForMark(box: RunscBox, signal: AbortSignal): Promise<void> {
  const stream = box.child.stderr;
  if (!stream) throw new IronClawError('INTERNAL', 'runsc stderr is not a pipe');
  let seen = Buffer.alloc(0);
  const found = await new Promise<boolean>((resolve, reject) => {
    const stop = (): void => {
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      signal.removeEventListener('abort', onAbort);
    };
    const onReadable = (): void => {
      for (
        let chunk = stream.read() as Buffer | null;
        chunk !== null;
        chunk = stream.read() as Buffer | null
      ) {
        seen = Buffer.concat([seen, chunk]);
        const at = seen.indexOf(MARK);
        if (at >= 0) {
          stop();
          box.tail.push(seen.subarray(0, at));
          const rest = seen.subarray(at + MARK.length);
          if (rest.length > 0) stream.unshift(rest);
          resolve(true);
          return;
        }
        // Keep only what could still be the start of a mark; the rest is runsc's output.
        if (seen.length > 64 * 1024) {
          box.tail.push(seen.subarray(0, seen.length - MARK.length));
          seen = seen.subarray(seen.length - MARK.length);
        }
      }
    };
    const onEnd = (): void => {
      stop();
      box.tail.push(seen);
      resolve(false);
    };
    const onAbort = (): void => {
      stop();
      box.tail.push(seen);
      reject(signal.reason as Error);
    };
    stream.on('readable', onReadable);
    stream.once('end', onEnd);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  if (found) return;
  const exit = await box.exited;
  throw new IronClawError(
    'SANDBOX_START_FAILED',
    `the gVisor box ended before its command started (${exit.signal ?? `exit code ${exit.code}`}): ${box.tail.text().trim() || 'runsc printed nothing'}`,
  );
}
