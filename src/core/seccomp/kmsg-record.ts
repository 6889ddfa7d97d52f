import { AUDIT_ARCH, SECCOMP_ARCHES, syscallName, X32_SYSCALL_BIT } from './arch.js';

/** A seccomp record of the kernel's (audit type 1326, as /dev/kmsg carries it). */
export interface KernelSeccompRecord {
  /** Microseconds since boot (CLOCK_MONOTONIC), from the kmsg record's header. */
  monotonicUs: number;
  pid: number;
  uid: number;
  comm: string;
  arch: string;
  syscall: number;
  /** The syscall's name from our tables, when the architecture is one of ours. */
  name?: string;
  /** The seccomp return that was applied: kill-process, trap, log, errno… */
  action: string;
  signal: number;
}

/** SECCOMP_RET_* action values (the top 16 bits of `code=`). */
const ACTIONS: Readonly<Record<number, string>> = {
  0x80000000: 'kill-process',
  0x00000000: 'kill-thread',
  0x00030000: 'trap',
  0x00050000: 'errno',
  0x7fc00000: 'user-notif',
  0x7ff00000: 'trace',
  0x7ffc0000: 'log',
};

/**
 * Parses one /dev/kmsg record ("<prio>,<seq>,<usec>,<flags>;<text>") if it is a seccomp audit
 * record; anything else, or anything malformed, is undefined. The text is the kernel's, and is
 * read field by field, never trusted further.
 */
export function parseKmsgSeccomp(record: string): KernelSeccompRecord | undefined {
  const header = /^\d+,\d+,(\d+),[^;]*;(.*)$/s.exec(record);
  if (!header?.[1] || !header[2]?.includes('type=1326')) return undefined;
  const text = header[2].split('\n')[0] ?? '';
  const field = (name: string): string | undefined =>
    new RegExp(`(?:^|\\s)${name}=("[^"]*"|\\S+)`).exec(text)?.[1]?.replace(/^"|"$/g, '');
  const number = (name: string, radix = 10): number | undefined => {
    const value = field(name);
    if (value === undefined) return undefined;
    const parsed = radix === 16 ? Number.parseInt(value.replace(/^0x/, ''), 16) : Number(value);
    return Number.isFinite(parsed) ? parsed : undefined;
  };
  const [pid, uid, syscall, signal, code] = [
    number('pid'),
    number('uid'),
    number('syscall'),
    number('sig'),
    number('code', 16),
  ];
  const archHex = field('arch');
  if (pid === undefined || syscall === undefined || archHex === undefined) return undefined;
  const archValue = Number.parseInt(archHex, 16);
  const arch = SECCOMP_ARCHES.find((candidate) => AUDIT_ARCH[candidate] === archValue);
  const x32 = arch === 'x86_64' && (syscall & X32_SYSCALL_BIT) !== 0;
  const name = arch && !x32 ? syscallName(arch, syscall) : undefined;
  return {
    monotonicUs: Number(header[1]),
    pid,
    uid: uid ?? -1,
    comm: field('comm') ?? '',
    arch: x32 ? 'x32' : (arch ?? `audit arch 0x${archHex}`),
    syscall,
    ...(name === undefined ? {} : { name }),
    action: code === undefined ? 'unknown' : (ACTIONS[(code & 0xffff0000) >>> 0] ?? 'unknown'),
    signal: signal ?? 0,
  };
}
