import { AARCH64_SYSCALLS } from './tables/aarch64.js';
import { X86_64_SYSCALLS } from './tables/x86_64.js';

/** The architectures we compile filters for. */
export const SECCOMP_ARCHES = ['x86_64', 'aarch64'] as const;
export type SeccompArch = (typeof SECCOMP_ARCHES)[number];

/** AUDIT_ARCH_* values the kernel puts in seccomp_data.arch (EM_* | 64BIT | LE). */
export const AUDIT_ARCH: Readonly<Record<SeccompArch, number>> = {
  x86_64: 0xc000003e,
  aarch64: 0xc00000b7,
};

/** x32 syscalls are x86_64 numbers with this bit set, under AUDIT_ARCH_X86_64 too. */
export const X32_SYSCALL_BIT = 0x40000000;

/** The number a tracer writes to skip a syscall; it is never an x32 call. */
export const SKIPPED_SYSCALL = 0xffffffff;

interface ArchInfo {
  readonly byName: Readonly<Record<string, number>>;
  readonly byNumber: ReadonlyMap<number, string>;
}

function info(byName: Readonly<Record<string, number>>): ArchInfo {
  return { byName, byNumber: new Map(Object.entries(byName).map(([name, nr]) => [nr, name])) };
}

const ARCH_INFO: Record<SeccompArch, ArchInfo> = {
  x86_64: info(X86_64_SYSCALLS),
  aarch64: info(AARCH64_SYSCALLS),
};

/** The syscall number of `name` on `arch`, or undefined if that ABI has no such call. */
export function syscallNumber(arch: SeccompArch, name: string): number | undefined {
  const table = ARCH_INFO[arch].byName;
  return Object.hasOwn(table, name) ? table[name] : undefined;
}

/** The syscall name of `nr` on `arch`, or undefined. */
export function syscallName(arch: SeccompArch, nr: number): string | undefined {
  return ARCH_INFO[arch].byNumber.get(nr);
}

/** Every (name, number) of `arch`, ordered by number. */
export function syscallsOf(arch: SeccompArch): [name: string, nr: number][] {
  return Object.entries(ARCH_INFO[arch].byName).sort((a, b) => a[1] - b[1]);
}

/** True if some architecture we support knows the syscall `name`. */
export function isKnownSyscall(name: string): boolean {
  return SECCOMP_ARCHES.some((arch) => syscallNumber(arch, name) !== undefined);
}

/** Maps Node's `process.arch` to the seccomp architecture, or undefined if unsupported. */
export function seccompArchOf(nodeArch: string): SeccompArch | undefined {
  if (nodeArch === 'x64') return 'x86_64';
  if (nodeArch === 'arm64') return 'aarch64';
  return undefined;
}
