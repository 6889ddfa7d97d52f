import type { Writable } from 'node:stream';

/**
 * Writes a chunk; when the stream's buffer is full, returns a promise of its drain (or of its
 * close), for a caller that holds its source back meanwhile. So output goes at the pace
 * of the consumer's pipe and is never piled up in memory.
 */
export function writeOrWait(stream: Writable, chunk: Uint8Array): Promise<void> | undefined {
  // A reader that went away (EPIPE) will never drain: drop the chunk, add no listener.
  if (stream.destroyed || stream.writableEnded) return undefined;
  if (stream.write(chunk) || stream.destroyed) return undefined;
  return new Promise((resolve) => {
    // No 'error' listener: the stream's owner handles its errors (the CLI ends quietly on EPIPE),
    // and a stream that fails is destroyed, which closes it.
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}
