/** What a filter decides for one syscall. */
export type Action =
  | { kind: 'allow' }
  | { kind: 'errno'; errno: number }
  | { kind: 'kill-process' }
  | { kind: 'trap' }
  | { kind: 'log' };

/** SECCOMP_RET_* values (include/uapi/linux/seccomp.h). */
export const SECCOMP_RET = {
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0x00000000,
  TRAP: 0x00030000,
  ERRNO: 0x00050000,
  USER_NOTIF: 0x7fc00000,
  TRACE: 0x7ff00000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
} as const;

/** The action part of a return value; the low 16 bits are its data (the errno). */
export const SECCOMP_RET_ACTION_FULL = 0xffff0000;
export const SECCOMP_RET_DATA = 0x0000ffff;

/** The kernel caps errno data at MAX_ERRNO. */
export const MAX_ERRNO = 4095;

/** Errno names a policy may use instead of numbers (asm-generic values: x86_64 and arm64). */
export const ERRNO_NAMES: Readonly<Record<string, number>> = {
  EPERM: 1,
  ENOENT: 2,
  EACCES: 13,
  EINVAL: 22,
  ENOSYS: 38,
  EOPNOTSUPP: 95,
  EAFNOSUPPORT: 97,
};

/** The 32-bit value a filter returns for `action`. */
export function actionToRet(action: Action): number {
  switch (action.kind) {
    case 'allow':
      return SECCOMP_RET.ALLOW;
    case 'errno':
      return (SECCOMP_RET.ERRNO | (action.errno & SECCOMP_RET_DATA)) >>> 0;
    case 'kill-process':
      return SECCOMP_RET.KILL_PROCESS;
    case 'trap':
      return SECCOMP_RET.TRAP;
    case 'log':
      return SECCOMP_RET.LOG;
  }
}

/** A filter return value as a person reads it: `allow`, `errno(1)`, `kill-process`, … */
export function describeRet(ret: number): string {
  const action = (ret & SECCOMP_RET_ACTION_FULL) >>> 0;
  const data = ret & SECCOMP_RET_DATA;
  switch (action) {
    case SECCOMP_RET.ALLOW:
      return 'allow';
    case SECCOMP_RET.ERRNO:
      return `errno(${data})`;
    case SECCOMP_RET.KILL_PROCESS:
      return 'kill-process';
    case SECCOMP_RET.KILL_THREAD:
      return 'kill-thread';
    case SECCOMP_RET.TRAP:
      return 'trap';
    case SECCOMP_RET.LOG:
      return 'log';
    case SECCOMP_RET.TRACE:
      return `trace(${data})`;
    case SECCOMP_RET.USER_NOTIF:
      return 'user-notif';
    default:
      return `unknown(0x${ret.toString(16)})`;
  }
}

/** True for return values that let the syscall run (allow, log). */
export function retAllows(ret: number): boolean {
  const action = (ret & SECCOMP_RET_ACTION_FULL) >>> 0;
  return action === SECCOMP_RET.ALLOW || action === SECCOMP_RET.LOG;
}
