import { setTimeout as delay } from 'node:timers/promises';
import type { PingResult } from './guest-api.js';

/** How long a fresh box's agent may take to make its next command's process. */
const EXEC_READY_WAIT_MS = 2000;

/**
 * Waits, a while at most, until the guest agent has made the process for its next exec (see
 * src/guest/exec-stubs.ts); used where a box is prepared for someone else's first command (a
 * warm pool, a VM template). Returns early for an agent that does not say, a box that is gone,
 * or when `signal` aborts.
 */
export async function untilExecReady(
  ping: () => Promise<PingResult>,
  signal?: AbortSignal,
): Promise<void> {
  const deadline = performance.now() + EXEC_READY_WAIT_MS;
  while (performance.now() < deadline && !signal?.aborted) {
    const answer = await ping().catch(() => undefined);
    if (answer?.execReady !== false) return;
    await delay(10, undefined, { signal }).catch(() => undefined);
  }
}
