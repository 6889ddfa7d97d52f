import type { ChildProcess } from 'node:child_process';

/**
 * Gives every stdio stream of a process that holds a box an 'error' listener. A box that dies
 * (killed by the OOM killer at start-up, say) resets its ends of these pipes and socket pairs;
 * a stream without a listener would turn that into an uncaught exception and take the whole
 * host process down, with every other sandbox it holds. What the caller hears instead is the
 * box's exit and its reason, which every driver already reports; readers of a stream see its
 * 'close'.
 */
export function guardBoxStreams(child: ChildProcess): void {
  for (const stream of child.stdio as readonly (NodeJS.EventEmitter | null | undefined)[]) {
    stream?.on('error', ignore);
  }
}

function ignore(): void {
  // The box's exit says what happened (see above).
}
