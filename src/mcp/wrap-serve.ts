import type { BoxUids } from '../core/box-uids.js';
import { Console } from 'node:console';
import type { ApprovalBroker } from '../approval/approval-broker.js';
import type { BoxMount } from '../host/box-process.js';
import type { Logger } from './logger.js';
import { StdioLineTransport } from './stdio-line-transport.js';
import { acceptTools } from './wrap-accept.js';
import { startBoxServer } from './wrap-box-server.js';
import type { ToolPolicy } from './wrap-policy.js';
import { WrapProxy } from './wrap-proxy.js';
import { ToolGuard } from './wrap-tool-guard.js';

export interface WrapOptions {
  argv: readonly string[];
  mounts: readonly BoxMount[];
  env: Readonly<Record<string, string>>;
  /** Network egress rules; none: no network. */
  allowNet: readonly string[];
  rootBoxUid: number;
  /** As root: per-box host uids from this range, or false (see SandboxOptions.boxUids). */
  boxUids?: BoxUids | undefined;
  policy: ToolPolicy;
  /** Asks a person before a red tool runs; undefined: red tools are refused, for this reason. */
  approvals?: ApprovalBroker | undefined;
  approvalsUnavailable?: string | undefined;
  pinPath: string;
  /** The command line that accepts a changed tool list, for messages. */
  acceptCommand: string;
  log: Logger;
  version: string;
  signal: AbortSignal;
}

const ACCEPT_TIMEOUT_MS = 60_000;

/**
 * `ironclaw wrap`: the wrapped server in a box, proxied on our stdin and stdout until either
 * side ends (the client closes stdin, the server exits, or a signal). Resolves to the exit
 * status: 0 when the client ended the session, 1 when the server went away first.
 */
export async function serveWrap(options: WrapOptions): Promise<number> {
  // stdout carries the protocol only (see serve-stdio.ts).
  globalThis.console = new Console({ stdout: process.stderr, stderr: process.stderr });
  const { log } = options;
  const guard = await ToolGuard.open(options.pinPath, options.argv, log);
  const upstream = await startBoxServer({
    ...options,
    onStderr: (chunk) => void process.stderr.write(chunk),
  });
  log.info(
    `wrapping ${JSON.stringify(options.argv)} in a bwrap sandbox: ${upstream.isolation.layers.filesystem.detail}`,
  );
  const downstream = new StdioLineTransport(process.stdin, process.stdout);
  const proxy = new WrapProxy({
    ...options,
    downstream,
    upstream,
    guard,
    sandbox: upstream.sandbox,
  });
  await downstream.start();
  const aborted = new Promise<'signal'>((resolve) =>
    options.signal.addEventListener('abort', () => resolve('signal'), { once: true }),
  );
  const ended = await Promise.race([
    downstream.closed.then(() => 'client' as const),
    upstream.exited.then((why) => why),
    aborted,
  ]);
  if (ended !== 'client' && ended !== 'signal') {
    log.warn(ended);
    await proxy.failPending(ended);
  }
  await Promise.allSettled([upstream.close(), downstream.close()]);
  return ended === 'client' || ended === 'signal' ? 0 : 1;
}

/** `ironclaw wrap --accept-tools`: pin the server's current tool list, then exit. */
export async function acceptWrapTools(options: WrapOptions): Promise<string> {
  const upstream = await startBoxServer({
    ...options,
    onStderr: (chunk) => void process.stderr.write(chunk),
  });
  try {
    return await acceptTools(upstream, {
      pinPath: options.pinPath,
      argv: options.argv,
      version: options.version,
      signal: AbortSignal.any([options.signal, AbortSignal.timeout(ACCEPT_TIMEOUT_MS)]),
    });
  } finally {
    await upstream.close();
  }
}
