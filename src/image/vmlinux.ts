import { gunzipSync, zstdDecompressSync } from 'node:zlib';
import { decodeLz4Legacy } from './lz4.js';

/**
 * Turns a compressed x86 bzImage into the uncompressed ELF `vmlinux` inside it, which QEMU boots
 * through the PVH entry point: the guest then skips decompressing itself (about 230 ms under TCG
 * on the development machine, see notes/vmm.md §2.2). The result is used only when it is an ELF
 * with a PVH entry note; otherwise the bzImage is booted as it is and the reason is recorded.
 *
 * bzImage layout (Documentation/arch/x86/boot.rst): setup_sects at 0x1f1, "HdrS" at 0x202, and
 * payload_offset / payload_length at 0x248 / 0x24c, relative to the protected-mode code that
 * starts after the (setup_sects + 1) 512-byte sectors. lz4, zstd (and others but gzip) payloads
 * end with the uncompressed size as 4 bytes (the kernel Makefile's size_append).
 */
export type VmlinuxResult =
  { ok: true; vmlinux: Buffer; compression: string } | { ok: false; reason: string };

const XEN_ELFNOTE_PHYS32_ENTRY = 18;
const PT_NOTE = 4;

export function extractVmlinux(bzImage: Buffer): VmlinuxResult {
  if (bzImage.length < 0x250 || bzImage.toString('latin1', 0x202, 0x206) !== 'HdrS') {
    return { ok: false, reason: 'not a bzImage (no HdrS header)' };
  }
  const setupSectors = bzImage[0x1f1] || 4;
  const start = (setupSectors + 1) * 512 + bzImage.readUInt32LE(0x248);
  const payload = bzImage.subarray(start, start + bzImage.readUInt32LE(0x24c));
  const magic = payload.subarray(0, 4).toString('hex');
  let vmlinux: Buffer;
  let compression: string;
  try {
    if (magic.startsWith('1f8b')) {
      [vmlinux, compression] = [gunzipSync(payload), 'gzip'];
    } else if (magic === '02214c18') {
      [vmlinux, compression] = [withSize(payload, decodeLz4Legacy), 'lz4'];
    } else if (magic === '28b52ffd') {
      [vmlinux, compression] = [withSize(payload, (data) => zstdDecompressSync(data)), 'zstd'];
    } else {
      return { ok: false, reason: `its payload's compression (magic ${magic}) is not supported` };
    }
  } catch (error) {
    return {
      ok: false,
      reason: `decompressing it failed: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
  if (!hasPvhNote(vmlinux)) {
    return { ok: false, reason: 'the kernel inside is not an ELF with a PVH entry point' };
  }
  return { ok: true, vmlinux, compression };
}

/** Decompresses a payload that ends with its uncompressed size, and checks that size. */
function withSize(payload: Buffer, decode: (data: Buffer) => Buffer): Buffer {
  const expected = payload.readUInt32LE(payload.length - 4);
  const out = decode(payload.subarray(0, payload.length - 4));
  if (out.length !== expected) {
    throw new Error(`got ${out.length} bytes, the header says ${expected}`);
  }
  return out;
}

/** A 64-bit little-endian ELF with a Xen PHYS32_ENTRY note, which is what PVH boot needs. */
export function hasPvhNote(elf: Buffer): boolean {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) {
    return false;
  }
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  for (let index = 0; index < phnum; index++) {
    const header = phoff + index * phentsize;
    if (header + 56 > elf.length || elf.readUInt32LE(header) !== PT_NOTE) continue;
    const offset = Number(elf.readBigUInt64LE(header + 8));
    const end = Math.min(elf.length, offset + Number(elf.readBigUInt64LE(header + 32)));
    for (let at = offset; at + 12 <= end;) {
      const nameSize = elf.readUInt32LE(at);
      const descSize = elf.readUInt32LE(at + 4);
      const type = elf.readUInt32LE(at + 8);
      const name = elf.toString('latin1', at + 12, at + 12 + Math.max(0, nameSize - 1));
      if (name === 'Xen' && type === XEN_ELFNOTE_PHYS32_ENTRY) return true;
      at += 12 + align4(nameSize) + align4(descSize);
    }
  }
  return false;
}

function align4(size: number): number {
  return Math.ceil(size / 4) * 4;
}
