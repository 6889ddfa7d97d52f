import { IronClawError } from '../core/errors.js';
import { FRAME_HEADER_BYTES, MAX_FRAME_BYTES } from './limits.js';

/** Encodes one message as a frame: u32 big-endian payload length, then UTF-8 JSON. */
export function encodeFrame(message: unknown, maxBytes = MAX_FRAME_BYTES): Buffer {
  let json: string | undefined;
  try {
    json = JSON.stringify(message);
  } catch (cause) {
    // Cycles, BigInts and throwing toJSON methods: callers branch on the code, so give them one.
    const why = cause instanceof Error ? cause.message : String(cause);
    throw new IronClawError('FRAME_INVALID', `cannot encode a frame: ${why}`, { cause });
  }
  if (json === undefined) {
    throw new IronClawError(
      'FRAME_INVALID',
      'cannot encode a frame: the message is not JSON-serialisable',
    );
  }
  const length = Buffer.byteLength(json, 'utf8');
  if (length > maxBytes) {
    throw new IronClawError(
      'FRAME_TOO_LARGE',
      `cannot send a frame of ${length} bytes: the limit is ${maxBytes} bytes; send the data in smaller pieces`,
    );
  }
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
  frame.writeUInt32BE(length, 0);
  frame.write(json, FRAME_HEADER_BYTES, 'utf8');
  return frame;
}
