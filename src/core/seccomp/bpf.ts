/**
 * Classic BPF as the kernel's seccomp takes it: struct sock_filter { u16 code; u8 jt; u8 jf;
 * u32 k; }, 8 bytes in host byte order (little-endian on both architectures we compile for).
 */
export interface SockFilter {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

export const BPF_LD = 0x00;
export const BPF_LDX = 0x01;
export const BPF_ST = 0x02;
export const BPF_STX = 0x03;
export const BPF_ALU = 0x04;
export const BPF_JMP = 0x05;
export const BPF_RET = 0x06;
export const BPF_MISC = 0x07;

export const BPF_W = 0x00;
export const BPF_IMM = 0x00;
export const BPF_ABS = 0x20;
export const BPF_MEM = 0x60;
export const BPF_LEN = 0x80;

export const BPF_ADD = 0x00;
export const BPF_SUB = 0x10;
export const BPF_MUL = 0x20;
export const BPF_DIV = 0x30;
export const BPF_OR = 0x40;
export const BPF_AND = 0x50;
export const BPF_LSH = 0x60;
export const BPF_RSH = 0x70;
export const BPF_NEG = 0x80;
export const BPF_MOD = 0x90;
export const BPF_XOR = 0xa0;

export const BPF_JA = 0x00;
export const BPF_JEQ = 0x10;
export const BPF_JGT = 0x20;
export const BPF_JGE = 0x30;
export const BPF_JSET = 0x40;

export const BPF_K = 0x00;
export const BPF_X = 0x08;
export const BPF_A = 0x10;
export const BPF_TAX = 0x00;
export const BPF_TXA = 0x80;

/** BPF_MAXINSNS: the kernel refuses longer filters. */
export const MAX_INSTRUCTIONS = 4096;
/** Scratch memory words (BPF_MEMWORDS). */
export const MEM_WORDS = 16;
export const INSTRUCTION_BYTES = 8;

/** Encodes instructions into the byte layout of a struct sock_filter array. */
export function encodeProgram(program: readonly SockFilter[]): Buffer {
  const bytes = Buffer.alloc(program.length * INSTRUCTION_BYTES);
  program.forEach((ins, i) => {
    const at = i * INSTRUCTION_BYTES;
    bytes.writeUInt16LE(ins.code, at);
    bytes.writeUInt8(ins.jt, at + 2);
    bytes.writeUInt8(ins.jf, at + 3);
    bytes.writeUInt32LE(ins.k >>> 0, at + 4);
  });
  return bytes;
}

/** Decodes a struct sock_filter array; the length must be a whole number of instructions. */
export function decodeProgram(bytes: Uint8Array): SockFilter[] {
  if (bytes.length % INSTRUCTION_BYTES !== 0) {
    throw new RangeError(`a BPF program is a multiple of 8 bytes, got ${bytes.length}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const program: SockFilter[] = [];
  for (let at = 0; at < bytes.length; at += INSTRUCTION_BYTES) {
    program.push({
      code: view.getUint16(at, true),
      jt: view.getUint8(at + 2),
      jf: view.getUint8(at + 3),
      k: view.getUint32(at + 4, true),
    });
  }
  return program;
}

const JUMP_NAMES: Record<number, string> = {
  [BPF_JEQ]: 'jeq',
  [BPF_JGT]: 'jgt',
  [BPF_JGE]: 'jge',
  [BPF_JSET]: 'jset',
};
const ALU_NAMES: Record<number, string> = {
  [BPF_ADD]: 'add',
  [BPF_SUB]: 'sub',
  [BPF_MUL]: 'mul',
  [BPF_DIV]: 'div',
  [BPF_OR]: 'or',
  [BPF_AND]: 'and',
  [BPF_LSH]: 'lsh',
  [BPF_RSH]: 'rsh',
  [BPF_NEG]: 'neg',
  [BPF_MOD]: 'mod',
  [BPF_XOR]: 'xor',
};

const hex = (k: number): string => `0x${(k >>> 0).toString(16)}`;

/** One instruction in the usual bpf_asm-like notation, with absolute jump targets. */
export function formatInstruction(ins: SockFilter, pc: number): string {
  const { code, jt, jf, k } = ins;
  const src = code & BPF_X ? 'x' : `#${hex(k)}`;
  switch (code & 0x07) {
    case BPF_LD:
      if (code === (BPF_LD | BPF_W | BPF_ABS)) return `ld [${k}]`;
      if (code === (BPF_LD | BPF_W | BPF_LEN)) return 'ld #len';
      if (code === (BPF_LD | BPF_IMM)) return `ld #${hex(k)}`;
      if (code === (BPF_LD | BPF_MEM)) return `ld M[${k}]`;
      break;
    case BPF_LDX:
      if (code === (BPF_LDX | BPF_W | BPF_LEN)) return 'ldx #len';
      if (code === (BPF_LDX | BPF_IMM)) return `ldx #${hex(k)}`;
      if (code === (BPF_LDX | BPF_MEM)) return `ldx M[${k}]`;
      break;
    case BPF_ST:
      return `st M[${k}]`;
    case BPF_STX:
      return `stx M[${k}]`;
    case BPF_ALU: {
      const name = ALU_NAMES[code & 0xf0];
      if (name === 'neg') return 'neg';
      if (name !== undefined) return `${name} ${src}`;
      break;
    }
    case BPF_JMP: {
      if ((code & 0xf0) === BPF_JA) return `ja ${pc + 1 + k}`;
      const name = JUMP_NAMES[code & 0xf0];
      if (name !== undefined) return `${name} ${src} ? ${pc + 1 + jt} : ${pc + 1 + jf}`;
      break;
    }
    case BPF_RET:
      return code & BPF_A ? 'ret a' : `ret #${hex(k)}`;
    case BPF_MISC:
      return code & BPF_TXA ? 'txa' : 'tax';
  }
  return `.invalid code=${hex(code)} jt=${jt} jf=${jf} k=${hex(k)}`;
}
