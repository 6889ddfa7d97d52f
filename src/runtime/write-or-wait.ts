import type { Writable } from 'node:stream';

/**
 * Writes a chunk; when the stream's buffer is full, returns a promise of its drain (or of its
 * close or error), for a caller that holds its source back meanwhile. So output goes at the pace
 * of the consumer's pipe and is never piled up in memory.
 */
export function writeOrWait(stream: Writable, chunk: Uint8Array): Promise<void> | undefined {
  if (stream.write(chunk)) return undefined;
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      stream.off('error', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
    stream.on('error', done);
  });
}
