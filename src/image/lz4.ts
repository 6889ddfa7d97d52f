/**
 * A decoder for the LZ4 "legacy" frame format, the one `lz4 -l` writes and Linux uses for
 * lz4-compressed kernels: the magic 0x184C2102 (little-endian), then blocks, each a 4-byte
 * little-endian compressed size and an LZ4 block that decodes to at most 8 MiB on its own.
 * A magic number where a block size is expected starts another concatenated stream.
 *
 * LZ4 block format (lz4_Block_format.md): sequences of a token (high nibble: literal length,
 * low nibble: match length - 4; 15 means "more length bytes follow, each added, until one is
 * not 255"), the literals, then a 2-byte little-endian offset back into the output and the
 * match. The last sequence has literals only.
 */
const LEGACY_MAGIC = 0x184c2102;
const LEGACY_BLOCK_BYTES = 8 * 1024 * 1024;

export function decodeLz4Legacy(input: Buffer): Buffer {
  if (input.length < 4 || input.readUInt32LE(0) !== LEGACY_MAGIC) {
    throw new Error('not an LZ4 legacy stream (bad magic)');
  }
  const blocks: Buffer[] = [];
  let at = 4;
  while (at + 4 <= input.length) {
    const size = input.readUInt32LE(at);
    at += 4;
    if (size === LEGACY_MAGIC) continue;
    if (size === 0 || at + size > input.length) {
      throw new Error(`a block of ${size} bytes at offset ${at - 4} runs past the input`);
    }
    blocks.push(decodeBlock(input.subarray(at, at + size), LEGACY_BLOCK_BYTES));
    at += size;
  }
  if (at !== input.length) throw new Error(`${input.length - at} stray bytes after the last block`);
  return Buffer.concat(blocks);
}

/** One LZ4 block, which may decode to at most `maxOutput` bytes. */
export function decodeBlock(block: Uint8Array, maxOutput: number): Buffer {
  const out = Buffer.allocUnsafe(maxOutput);
  let ip = 0;
  let op = 0;
  const readLength = (base: number): number => {
    let length = base;
    if (base === 15) {
      let byte: number;
      do {
        if (ip >= block.length) throw new Error('a length runs past the block');
        byte = block[ip++] ?? 0;
        length += byte;
      } while (byte === 255);
    }
    return length;
  };
  while (ip < block.length) {
    const token = block[ip++] ?? 0;
    const literals = readLength(token >> 4);
    if (ip + literals > block.length || op + literals > maxOutput) {
      throw new Error('literals run past the block or the output');
    }
    out.set(block.subarray(ip, ip + literals), op);
    ip += literals;
    op += literals;
    if (ip >= block.length) break; // the last sequence: literals only
    if (ip + 2 > block.length) throw new Error('a match offset runs past the block');
    const offset = (block[ip] ?? 0) | ((block[ip + 1] ?? 0) << 8);
    ip += 2;
    const length = readLength(token & 15) + 4;
    if (offset === 0 || offset > op || op + length > maxOutput) {
      throw new Error(`a match (offset ${offset}, length ${length}) reaches outside the output`);
    }
    if (offset >= length) {
      out.copyWithin(op, op - offset, op - offset + length);
      op += length;
    } else {
      // Overlapping: the match repeats bytes it is itself writing.
      for (const end = op + length; op < end; op++) out[op] = out[op - offset] ?? 0;
    }
  }
  return Buffer.from(out.subarray(0, op));
}
