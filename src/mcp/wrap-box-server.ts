import type { BoxUids } from '../core/box-uids.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/server';
import { parseJSONRPCMessage, serializeMessage } from '@modelcontextprotocol/server';
import { toIronClawError } from '../core/errors.js';
import type { IsolationReport } from '../core/isolation.js';
import type { BoxMount } from '../host/box-process.js';
import { createSandbox } from '../runtime/create-sandbox.js';
import type { Logger } from './logger.js';
import { MAX_MESSAGE_BYTES } from './stdio-line-transport.js';
import { AsyncQueue } from '../runtime/async-queue.js';
import { LineSplitter } from './line-splitter.js';

/** The wrapped server as the proxy sees it: messages in, messages out, an end. */
export interface Upstream {
  send(message: JSONRPCMessage): void;
  onmessage: (message: JSONRPCMessage) => void;
  /** Resolves when the server has exited (or could not be run), with a line saying how. */
  readonly exited: Promise<string>;
  close(): Promise<void>;
}

export interface BoxServerOptions {
  argv: readonly string[];
  mounts: readonly BoxMount[];
  env: Readonly<Record<string, string>>;
  /** Network egress rules; none: no network. */
  allowNet: readonly string[];
  rootBoxUid: number;
  /** As root: per-box host uids from this range, or false (see SandboxOptions.boxUids). */
  boxUids?: BoxUids | undefined;
  log: Logger;
  /** Where the server's stderr goes (ours, unless a test captures it). */
  onStderr: (chunk: Buffer) => void;
}

/** How long a server gets to exit by itself once its stdin is closed, before the box goes. */
const EXIT_GRACE_MS = 3000;

/**
 * Starts the third-party server inside a fresh sandbox of the default driver (no network, read-only root, only
 * the mounts asked for) and speaks newline-delimited JSON-RPC with it over the exec's streaming
 * stdin and stdout. Its output is hostile input: a line that is not JSON-RPC, or is over the
 * size cap, is logged and dropped; it never reaches the client.
 */
export async function startBoxServer(options: BoxServerOptions): Promise<
  Upstream & {
    isolation: IsolationReport;
    /** The box's sandbox id, for the audit records of the calls through it. */
    sandbox: string;
  }
> {
  const { log } = options;
  const sandbox = await createSandbox({
    mounts: options.mounts,
    env: options.env,
    allowNet: options.allowNet,
    rootBoxUid: options.rootBoxUid,
    boxUids: options.boxUids,
  });
  const stdin = new AsyncQueue<Uint8Array>();
  const abort = new AbortController();
  let onmessage: (message: JSONRPCMessage) => void = () => undefined;
  const splitter = new LineSplitter({
    maxBytes: MAX_MESSAGE_BYTES,
    onLine: (line) => {
      let message: JSONRPCMessage;
      try {
        message = parseJSONRPCMessage(JSON.parse(line));
      } catch {
        log.warn(
          `wrapped server wrote a line that is not JSON-RPC; dropped: ${line.slice(0, 200)}`,
        );
        return;
      }
      onmessage(message);
    },
    onOversized: ({ bytes }) =>
      log.warn(
        `wrapped server wrote a ${bytes}-byte message, over the ${MAX_MESSAGE_BYTES}-byte cap; dropped`,
      ),
  });
  const run = sandbox.exec(options.argv, {
    stdin,
    signal: abort.signal,
    // A server's output is a session, not a result: no cap on the total, only per message.
    maxOutputBytes: Number.MAX_SAFE_INTEGER,
    collect: false,
    onStdout: (chunk) => splitter.push(chunk),
    onStderr: options.onStderr,
  });
  const exited = run.then(
    (result) =>
      result.exitCode === 127
        ? `the wrapped command was not found in the sandbox (exit code 127): is it installed in the box, or under a --mount?`
        : `the wrapped server exited (${result.signal ?? `exit code ${result.exitCode}`})`,
    (error: unknown) => `the wrapped server stopped: ${toIronClawError(error).message}`,
  );
  let closing: Promise<void> | undefined;
  return {
    isolation: sandbox.isolation,
    sandbox: sandbox.id,
    exited,
    get onmessage() {
      return onmessage;
    },
    set onmessage(handler) {
      onmessage = handler;
    },
    send(message) {
      stdin.push(Buffer.from(serializeMessage(message)));
    },
    close: () =>
      (closing ??= (async () => {
        stdin.end();
        const timer = setTimeout(() => abort.abort(), EXIT_GRACE_MS);
        await exited;
        clearTimeout(timer);
        await sandbox.destroy();
      })()),
  };
}
