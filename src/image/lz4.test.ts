import { spawn } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import { decodeBlock, decodeLz4Legacy } from './lz4.js';

/** The lz4 tool writing legacy frames, as the kernel build does. */
const LZ4_LEGACY = ['lz4', '-l', '-c', '-q'];

/** Compresses `input` with LZ4_LEGACY; undefined when there is no lz4 tool. */
function lz4Legacy(input: Buffer): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const [file = '', ...args] = LZ4_LEGACY;
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'ignore'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.once('error', () => resolve(undefined));
    child.once('close', (code) => resolve(code === 0 ? Buffer.concat(chunks) : undefined));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

const hasLz4 = (await lz4Legacy(Buffer.from('x'))) !== undefined;

describe('LZ4 legacy decoder', () => {
  test('decodes a hand-made block: literals, a match, an overlapping match, long lengths', () => {
    const block = Buffer.from([
      0x30,
      ...Buffer.from('abc'),
      0x03,
      0x00, // "abc", then 4+0 bytes from 3 back: "abca"
      0x1f,
      ...Buffer.from('x'),
      0x01,
      0x00,
      0x05, // "x", then 4+15+5 bytes from 1 back
      0x20,
      ...Buffer.from('yz'), // the last sequence: literals only
    ]);
    expect(decodeBlock(block, 1024).toString()).toBe(`abcabca${'x'.repeat(25)}yz`);
  });

  test('refuses a match that reaches before the start of the output', () => {
    expect(() => decodeBlock(Buffer.from([0x10, 0x61, 0x05, 0x00]), 1024)).toThrow(/outside/);
  });

  test('refuses a stream without the legacy magic, and a block that runs past the input', () => {
    expect(() => decodeLz4Legacy(Buffer.from('not lz4 at all'))).toThrow(/magic/);
    expect(() => decodeLz4Legacy(Buffer.from([0x02, 0x21, 0x4c, 0x18, 0xff, 0, 0, 0, 1]))).toThrow(
      /past the input/,
    );
  });

  test.skipIf(!hasLz4)(
    `round-trips what lz4 -l compresses: text, zeros, random bytes, several blocks${hasLz4 ? '' : ' [skipped: no lz4 binary; apt-get install lz4]'}`,
    async () => {
      let seed = 7;
      const random = Buffer.from(
        Array.from(
          { length: 300_000 },
          () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) & 0xff,
        ),
      );
      const text = Buffer.from('IronClaw guest image '.repeat(20_000));
      // 8 MiB blocks: this one spans two, the second a short one.
      const large = Buffer.concat([Buffer.alloc(9 * 1024 * 1024, 1), random]);
      for (const input of [text, Buffer.alloc(100_000), random, large]) {
        const compressed = await lz4Legacy(input);
        expect(compressed).toBeDefined();
        expect(decodeLz4Legacy(compressed ?? Buffer.alloc(0)).equals(input)).toBe(true);
      }
    },
  );
});
