import type { ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { BoundedTail } from './bounded-tail.js';

/*
 * What both VMM launchers (qemu-launch.ts, firecracker-launch.ts) do alike with the VMM
 * process: keep its output, and kill it and its holder.
 */

/** What a log file of a VM keeps at most: the guest writes to its console, and is hostile. */
const MAX_LOG_BYTES = 1024 * 1024;

/** Copies an output stream into its tail and (up to MAX_LOG_BYTES) its log file, if any. */
export function keepOutput(
  stream: Readable | null,
  tail: BoundedTail,
  file?: string,
): WriteStream | undefined {
  const log = file === undefined ? undefined : createWriteStream(file, { mode: 0o600 });
  log?.on('error', () => undefined); // the VM's directory may be removed first
  let room = MAX_LOG_BYTES;
  stream?.on('data', (chunk: Buffer) => {
    tail.push(chunk);
    if (!log || room <= 0) return;
    log.write(chunk.subarray(0, room));
    room -= chunk.length;
    if (room <= 0) log.write('\n[ironclaw: log truncated]\n');
  });
  return log;
}

/**
 * An idempotent kill: SIGKILL to the VMM (its pid, once known) and to its holder's process
 * group (the holder is spawned detached), then wait for the holder's exit.
 */
export function vmmKiller(
  child: ChildProcess,
  vmmPid: () => Promise<number | undefined>,
  exited: Promise<unknown>,
): () => Promise<void> {
  let killing: Promise<void> | undefined;
  return () => {
    killing ??= (async () => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        for (const target of [await vmmPid(), -child.pid]) {
          try {
            if (target !== undefined) process.kill(target, 'SIGKILL');
          } catch {
            // Already gone.
          }
        }
      }
      await exited;
    })();
    return killing;
  };
}
