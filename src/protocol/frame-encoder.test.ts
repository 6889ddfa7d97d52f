import { describe, expect, it } from 'vitest';
import { IronClawError } from '../core/errors.js';
import { encodeFrame } from './frame-encoder.js';
import { MAX_FRAME_BYTES } from './limits.js';

function codeOf(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(IronClawError);
    return (error as IronClawError).code;
  }
  throw new Error('expected the action to throw');
}

describe('encodeFrame', () => {
  it('writes a big-endian u32 byte length, then the UTF-8 JSON', () => {
    const frame = encodeFrame({ s: 'é' });
    const json = '{"s":"é"}';
    expect(frame.readUInt32BE(0)).toBe(Buffer.byteLength(json)); // 10 bytes for 9 characters
    expect(frame.subarray(4).toString('utf8')).toBe(json);
    expect(frame.length).toBe(4 + 10);
  });

  it('counts the limit in UTF-8 bytes, not characters', () => {
    // '"éé"' is 4 characters but 6 bytes.
    expect(encodeFrame('éé', 6).readUInt32BE(0)).toBe(6);
    expect(codeOf(() => encodeFrame('éé', 5))).toBe('FRAME_TOO_LARGE');
  });

  it('refuses a message over the limit with FRAME_TOO_LARGE', () => {
    expect(codeOf(() => encodeFrame({ data: 'x'.repeat(100) }, 64))).toBe('FRAME_TOO_LARGE');
    expect(codeOf(() => encodeFrame('x'.repeat(MAX_FRAME_BYTES - 1)))).toBe('FRAME_TOO_LARGE');
  });

  it('accepts a message of exactly the default 16 MiB limit', () => {
    const frame = encodeFrame('x'.repeat(MAX_FRAME_BYTES - 2));
    expect(frame.readUInt32BE(0)).toBe(MAX_FRAME_BYTES);
  });

  it('refuses what JSON cannot carry with FRAME_INVALID', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(codeOf(() => encodeFrame(undefined))).toBe('FRAME_INVALID');
    expect(codeOf(() => encodeFrame(() => 1))).toBe('FRAME_INVALID');
    expect(codeOf(() => encodeFrame(cyclic))).toBe('FRAME_INVALID');
    expect(codeOf(() => encodeFrame({ n: 1n }))).toBe('FRAME_INVALID');
  });
});
