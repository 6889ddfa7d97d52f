import { gzipSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { extractVmlinux, hasPvhNote } from './vmlinux.js';

/** A minimal 64-bit ELF with one PT_NOTE segment holding one note. */
function elf(note: { name: string; type: number }): Buffer {
  const out = Buffer.alloc(256);
  out.writeUInt32BE(0x7f454c46, 0);
  out[4] = 2; // 64-bit
  out[5] = 1; // little-endian
  out.writeBigUInt64LE(64n, 0x20); // e_phoff
  out.writeUInt16LE(56, 0x36); // e_phentsize
  out.writeUInt16LE(1, 0x38); // e_phnum
  out.writeUInt32LE(4, 64); // PT_NOTE
  out.writeBigUInt64LE(128n, 64 + 8); // p_offset
  out.writeBigUInt64LE(24n, 64 + 32); // p_filesz
  out.writeUInt32LE(note.name.length + 1, 128);
  out.writeUInt32LE(4, 132);
  out.writeUInt32LE(note.type, 136);
  out.write(note.name, 140, 'latin1');
  return out;
}

/** A bzImage shell: setup sectors, the HdrS header, the payload where the header says. */
function bzImage(payload: Buffer): Buffer {
  const setup = Buffer.alloc(2 * 512);
  setup[0x1f1] = 1;
  setup.write('HdrS', 0x202, 'latin1');
  setup.writeUInt32LE(16, 0x248);
  setup.writeUInt32LE(payload.length, 0x24c);
  return Buffer.concat([setup, Buffer.alloc(16), payload, Buffer.alloc(100)]);
}

/** An LZ4 legacy stream of literals only, followed by the kernel's size_append. */
function lz4Payload(data: Buffer): Buffer {
  const lengths: number[] = [];
  for (let rest = data.length - 15; ; rest -= 255) {
    lengths.push(Math.min(rest, 255));
    if (rest < 255) break;
  }
  const block = Buffer.concat([Buffer.from([0xf0, ...lengths]), data]);
  const size = Buffer.alloc(4);
  size.writeUInt32LE(block.length);
  const total = Buffer.alloc(4);
  total.writeUInt32LE(data.length);
  return Buffer.concat([Buffer.from([0x02, 0x21, 0x4c, 0x18]), size, block, total]);
}

const PVH = elf({ name: 'Xen', type: 18 });

describe('extractVmlinux', () => {
  test('hasPvhNote finds the Xen PHYS32_ENTRY note and nothing else', () => {
    expect(hasPvhNote(PVH)).toBe(true);
    expect(hasPvhNote(elf({ name: 'Xen', type: 17 }))).toBe(false);
    expect(hasPvhNote(elf({ name: 'GNU', type: 18 }))).toBe(false);
    expect(
      hasPvhNote(Buffer.from('not an elf at all, but long enough to have a header here'.repeat(2))),
    ).toBe(false);
  });

  test('unpacks a gzip and an lz4 payload to the PVH vmlinux', () => {
    for (const [payload, compression] of [
      [gzipSync(PVH), 'gzip'],
      [lz4Payload(PVH), 'lz4'],
    ] as const) {
      const result = extractVmlinux(bzImage(payload));
      expect(result).toMatchObject({ ok: true, compression });
      expect(result.ok && result.vmlinux.equals(PVH)).toBe(true);
    }
  });

  test('falls back (with the reason) for a non-bzImage, an unknown compression, a kernel without PVH', () => {
    expect(extractVmlinux(Buffer.alloc(4096))).toMatchObject({ ok: false, reason: /HdrS/ });
    expect(extractVmlinux(bzImage(Buffer.from('BZh91AY&SY')))).toMatchObject({
      ok: false,
      reason: /compression/,
    });
    expect(extractVmlinux(bzImage(gzipSync(elf({ name: 'GNU', type: 3 }))))).toMatchObject({
      ok: false,
      reason: /PVH/,
    });
    const truncated = lz4Payload(PVH);
    truncated.writeUInt32LE(PVH.length + 1, truncated.length - 4);
    expect(extractVmlinux(bzImage(truncated))).toMatchObject({ ok: false, reason: /header says/ });
  });
});
