import type { DAEMON_METHODS } from '../protocol/daemon-api.js';
import type { parseParams, RequestContext } from '../protocol/rpc-server.js';
import type { WindowSize } from '../protocol/window-size.js';
import { AsyncQueue } from './async-queue.js';
import type { Sandbox } from './sandbox.js';

/** The daemon's `exec`: the box's output is streamed to the client as events, not returned. */
export async function runExec(
  sandbox: Sandbox,
  params: ReturnType<typeof parseParams<typeof DAEMON_METHODS.exec.params>>,
  context: RequestContext,
): Promise<unknown> {
  let stdin: AsyncQueue<Uint8Array> | undefined;
  if (params.stdinOpen) {
    const queue = new AsyncQueue<Uint8Array>();
    context.onInput((data, eof) => {
      if (data) queue.push(data);
      if (eof) queue.end();
    });
    stdin = queue;
  }
  const relay = (event: string, chunk: Buffer): Promise<void> | undefined =>
    context.emit(event, { data: chunk.toString('base64') }) ? undefined : context.drained();
  // Only a terminal's exec listens: sizes sent to any other are dropped, never queued.
  const resizes = new AsyncQueue<WindowSize>({ latestOnly: true });
  if (params.tty) context.onResize((size) => resizes.push(size));
  const output = await sandbox
    .exec(params.argv ?? params.shell ?? '', {
      signal: context.signal,
      ...(params.cwd === undefined ? {} : { cwd: params.cwd }),
      ...(params.env === undefined ? {} : { env: params.env }),
      ...(stdin
        ? { stdin }
        : params.stdin === undefined
          ? {}
          : { stdin: Buffer.from(params.stdin, 'base64') }),
      ...(params.timeoutMs === undefined ? {} : { timeoutMs: params.timeoutMs }),
      ...(params.maxOutputBytes === undefined ? {} : { maxOutputBytes: params.maxOutputBytes }),
      ...(params.tty ? { tty: { ...params.tty, resizes } } : {}),
      // Relayed, never held: a client that reads slowly holds the box's output back.
      collect: false,
      onStdout: (chunk) => relay('stdout', chunk),
      onStderr: (chunk) => relay('stderr', chunk),
    })
    .finally(() => resizes.end());
  const { stdout: _stdout, stderr: _stderr, ...result } = output;
  return result;
}
