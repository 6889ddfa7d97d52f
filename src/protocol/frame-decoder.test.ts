import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IronClawError } from '../core/errors.js';
import { FrameDecoder } from './frame-decoder.js';
import { encodeFrame } from './frame-encoder.js';
import { MAX_FRAME_BYTES } from './limits.js';

/** A frame header announcing `length` bytes, with no payload behind it. */
function header(length: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(length, 0);
  return bytes;
}

/** A frame around raw payload bytes, which need not be JSON or even UTF-8. */
function rawFrame(payload: Uint8Array): Buffer {
  return Buffer.concat([header(payload.length), payload]);
}

/** Cuts `bytes` into consecutive chunks whose sizes cycle through `sizes`. */
function split(bytes: Buffer, sizes: number[]): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const size = sizes[i % sizes.length] ?? bytes.length;
    chunks.push(bytes.subarray(at, at + size));
    at += size;
  }
  return chunks;
}

function decodeAll(chunks: Buffer[], decoder = new FrameDecoder()): unknown[] {
  const messages = chunks.flatMap((chunk) => decoder.push(chunk));
  decoder.end();
  return messages;
}

/** Runs `action` and returns the IronClawError it throws. */
function thrown(action: () => unknown): IronClawError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(IronClawError);
    return error as IronClawError;
  }
  throw new Error('expected the action to throw');
}

describe('FrameDecoder', () => {
  it('decodes any messages split at any chunk boundaries, in order', () => {
    const chunkSize = fc.oneof(
      fc.constant(1),
      fc.integer({ min: 1, max: 8 }),
      fc.integer({ min: 1, max: 4096 }),
    );
    fc.assert(
      fc.property(
        fc.array(fc.jsonValue(), { maxLength: 20 }),
        fc.array(chunkSize, { minLength: 1, maxLength: 30 }),
        (messages, sizes) => {
          const stream = Buffer.concat(messages.map((message) => encodeFrame(message)));
          // JSON has no -0 and no undefined: compare with what survives a JSON round trip.
          const expected = messages.map(
            (message) => JSON.parse(JSON.stringify(message)) as unknown,
          );
          expect(decodeAll(split(stream, sizes))).toEqual(expected);
        },
      ),
      { seed: 42, numRuns: 300 },
    );
  });

  it('decodes a stream fed one byte at a time and all at once alike', () => {
    const messages = [{ a: 1 }, 'ünïcödé ✓ 🦀', [null, true, 2.5], {}];
    const stream = Buffer.concat(messages.map((message) => encodeFrame(message)));
    expect(decodeAll(split(stream, [1]))).toEqual(messages);
    expect(decodeAll([stream])).toEqual(messages);
  });

  describe('regression: bytes of the next frame that arrive in the same read as the current frame are kept, not dropped', () => {
    it('returns both frames of one chunk', () => {
      const decoder = new FrameDecoder();
      const chunk = Buffer.concat([encodeFrame({ n: 1 }), encodeFrame({ n: 2 })]);
      expect(decoder.push(chunk)).toEqual([{ n: 1 }, { n: 2 }]);
      expect(decoder.pendingBytes).toBe(0);
    });

    it('keeps the start of the next frame, header split across reads, until the rest arrives', () => {
      const decoder = new FrameDecoder();
      const second = encodeFrame({ n: 2 });
      // Read 1: the whole first frame and two of the second frame's four header bytes.
      expect(decoder.push(Buffer.concat([encodeFrame({ n: 1 }), second.subarray(0, 2)]))).toEqual([
        { n: 1 },
      ]);
      expect(decoder.pendingBytes).toBe(2);
      // Read 2: the rest of the header and part of the payload.
      expect(decoder.push(second.subarray(2, 6))).toEqual([]);
      // Read 3: the rest of the payload.
      expect(decoder.push(second.subarray(6))).toEqual([{ n: 2 }]);
      expect(decoder.pendingBytes).toBe(0);
      decoder.end();
    });
  });

  describe('oversize frames', () => {
    it('fails with FRAME_TOO_LARGE on the fourth header byte, before any payload', () => {
      const decoder = new FrameDecoder({ maxBytes: 100 });
      const announce = header(101);
      expect(decoder.push(announce.subarray(0, 3))).toEqual([]);
      expect(thrown(() => decoder.push(announce.subarray(3))).code).toBe('FRAME_TOO_LARGE');
    });

    it('stays failed afterwards: later pushes and end() throw the same error', () => {
      const decoder = new FrameDecoder({ maxBytes: 100 });
      const first = thrown(() => decoder.push(header(101)));
      expect(thrown(() => decoder.push(encodeFrame({ ok: true })))).toBe(first);
      expect(thrown(() => decoder.end())).toBe(first);
    });

    it('accepts a frame of exactly maxBytes', () => {
      const decoder = new FrameDecoder({ maxBytes: 10 });
      const payload = Buffer.from('"12345678"');
      expect(payload.length).toBe(10);
      expect(decoder.push(rawFrame(payload))).toEqual(['12345678']);
    });

    it('holds the 16 MiB limit by default, judged from the header alone', () => {
      expect(MAX_FRAME_BYTES).toBe(16 * 1024 * 1024);
      const atLimit = new FrameDecoder();
      expect(atLimit.push(header(MAX_FRAME_BYTES))).toEqual([]);
      expect(atLimit.pendingBytes).toBe(4);
      expect(thrown(() => new FrameDecoder().push(header(MAX_FRAME_BYTES + 1))).code).toBe(
        'FRAME_TOO_LARGE',
      );
      expect(thrown(() => new FrameDecoder().push(header(0xffffffff))).code).toBe(
        'FRAME_TOO_LARGE',
      );
    });
  });

  describe('truncated and invalid frames', () => {
    it('fails with FRAME_TRUNCATED when the stream ends inside a header or a payload', () => {
      const frame = encodeFrame({ hello: 'world' });
      for (const cut of [1, 3, 4, frame.length - 1]) {
        const decoder = new FrameDecoder();
        decoder.push(frame.subarray(0, cut));
        expect(thrown(() => decoder.end()).code).toBe('FRAME_TRUNCATED');
      }
    });

    it('ends cleanly after whole frames and after nothing at all', () => {
      expect(() => new FrameDecoder().end()).not.toThrow();
      expect(decodeAll([encodeFrame(1), encodeFrame(2)])).toEqual([1, 2]);
    });

    it('fails with FRAME_INVALID on a payload that is not JSON', () => {
      for (const text of ['{"a":', 'hello', '', '{"a":1}{"b":2}']) {
        const decoder = new FrameDecoder();
        expect(thrown(() => decoder.push(rawFrame(Buffer.from(text)))).code).toBe('FRAME_INVALID');
      }
    });

    it('fails with FRAME_INVALID on a payload that is not valid UTF-8', () => {
      const payloads = [
        [0x22, 0xff, 0x22], // a byte that never occurs in UTF-8
        [0x22, 0xc3, 0x22], // a truncated two-byte sequence
        [0x22, 0xed, 0xa0, 0x80, 0x22], // an encoded lone surrogate
        [0x22, 0xc0, 0xaf, 0x22], // an overlong '/'
      ];
      for (const payload of payloads) {
        const decoder = new FrameDecoder();
        expect(thrown(() => decoder.push(rawFrame(Uint8Array.from(payload)))).code).toBe(
          'FRAME_INVALID',
        );
        expect(thrown(() => decoder.push(encodeFrame('fine'))).code).toBe('FRAME_INVALID');
      }
    });
  });

  it('keeps working after a large frame released its buffer', () => {
    const decoder = new FrameDecoder();
    const big = 'x'.repeat(2 * 1024 * 1024);
    const frame = encodeFrame(big);
    expect(decoder.push(frame.subarray(0, 1000))).toEqual([]);
    expect(decoder.push(frame.subarray(1000))).toEqual([big]);
    expect(decoder.push(encodeFrame({ after: true }))).toEqual([{ after: true }]);
  });
});
