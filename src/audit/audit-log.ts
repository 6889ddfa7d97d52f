import { closeSync, mkdirSync, openSync, readSync, constants as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { AUDIT_ARCH, SECCOMP_ARCHES, syscallName, X32_SYSCALL_BIT } from '../core/seccomp/arch.js';
import { rotatingLog } from '../host/rotating-log.js';
import { persistentStateDir } from '../host/state-dir.js';

/**
 * The audit log: one JSON object a line, appended synchronously (a record must not be lost when
 * the process ends), bounded like every log of ours (two files of AUDIT_LOG_BYTES at most). It
 * records what a reviewer of a security incident wants first: which sandboxes existed, and every
 * call a sandbox's syscall filter stopped that the kernel told anyone about. Path:
 * IRONCLAW_AUDIT_LOG, else audit.log in the persistent state directory (state-dir.ts).
 */
export const AUDIT_LOG_BYTES = 4 * 1024 * 1024;

export type AuditEvent =
  | { event: 'sandbox-created'; sandbox: string; driver: string; hostUid: number }
  | { event: 'sandbox-renamed'; sandbox: string; from: string }
  | {
      /**
       * A host path bound into a sandbox read-write: an explicit weakening, since what the box
       * writes there reaches the host without the approval cliff.
       */
      event: 'mount-read-write';
      sandbox: string;
      host: string;
      guest: string;
    }
  | { event: 'sandbox-destroyed'; sandbox: string; driver: string }
  | {
      /**
       * A sandbox whose owner (a daemon, an MCP server, a program) died before destroying it,
       * found by the next daemon or MCP server to start: its box died with its owner, and this
       * stands for the 'sandbox-destroyed' event that was never written.
       */
      event: 'sandbox-lost';
      sandbox: string;
      driver: string;
      createdAt: string;
      ownerPid: number;
    }
  | {
      event: 'workspace-copied-in';
      sandbox: string;
      dir: string;
      paths: number;
      bytes: number;
      excluded: number;
    }
  | { event: 'workspace-applied'; sandbox: string; dir: string; digest: string; changes: number }
  | {
      /** A tools/call through `ironclaw wrap`, as its policy decided it. */
      event: 'mcp-tool-call';
      server: readonly string[];
      tool: string | undefined;
      argumentsSha256: string | undefined;
      decision: 'allowed' | 'denied';
      /** How it ended: the server's answer (a result or an error), a denial, or the client's cancel. */
      outcome: 'answered' | 'error' | 'denied' | 'cancelled';
      isError: boolean;
      reason?: string;
      error?: string;
      durationMs: number;
    }
  | {
      /** A connection a box asked its egress proxy for, allowed or refused, once it ended. */
      event: 'egress';
      sandbox: string;
      protocol: 'http' | 'connect' | 'socks5';
      host: string;
      port: number;
      address?: string;
      decision: 'allowed' | 'denied';
      reason: string;
      bytesUp: number;
      bytesDown: number;
      durationMs: number;
      error?: string;
    }
  | {
      event: 'seccomp-violation';
      sandbox: string;
      driver: string;
      /** The command, cut to a few KiB. */
      argv: readonly string[] | string;
      /** How it ended: killed by SIGSYS, or a shell's 159 (128 + SIGSYS) for a child so killed. */
      ended: string;
      /** What the kernel logged of it (seccomp audit records), when this process may read that. */
      kernel: readonly KernelSeccompRecord[] | string;
    };

export function auditLogPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.IRONCLAW_AUDIT_LOG ?? join(persistentStateDir(env), 'audit.log');
}

let append: ((line: string) => void) | undefined;
let appendPath: string | undefined;
let warned = false;

/** Appends one record; a log that cannot be written is said once on stderr, never thrown. */
export function audit(record: AuditEvent): void {
  const path = auditLogPath();
  try {
    if (appendPath !== path) {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      append = rotatingLog(path, AUDIT_LOG_BYTES, { stamp: false });
      appendPath = path;
    }
    append?.(JSON.stringify({ time: new Date().toISOString(), ...record }));
  } catch (error) {
    if (warned) return;
    warned = true;
    process.stderr.write(
      `ironclaw: cannot write the audit log ${path}: ${error instanceof Error ? error.message : String(error)}\n`,
    );
  }
}

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

/** Records beyond this many are not kept: the kernel's ring holds the rest for dmesg. */
const MAX_RECORDS = 32;

/**
 * The kernel's seccomp records since `sinceUs` (CLOCK_MONOTONIC, as process.hrtime.bigint()
 * reads it) for processes of host uid `uid`, from /dev/kmsg; or why they cannot be read (it
 * needs root, or kernel.dmesg_restrict=0). Attribution is by uid and time: a box's processes run
 * as its own host uid, which they share with other boxes of the same uid only.
 */
function kernelSeccompRecords(sinceUs: number, uid: number): KernelSeccompRecord[] | string {
  let fd: number;
  try {
    fd = openSync('/dev/kmsg', fs.O_RDONLY | fs.O_NONBLOCK);
  } catch (error) {
    return `the kernel's log cannot be read here (${(error as NodeJS.ErrnoException).code ?? 'error'}): see dmesg as root`;
  }
  const found: KernelSeccompRecord[] = [];
  const buffer = Buffer.alloc(8192);
  try {
    for (;;) {
      let length: number;
      try {
        length = readSync(fd, buffer, 0, buffer.length, null);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EPIPE') continue; // records were overwritten while we read: go on
        break; // EAGAIN: the end of the ring
      }
      const record = parseKmsgSeccomp(buffer.toString('utf8', 0, length));
      if (record && record.monotonicUs >= sinceUs && record.uid === uid) {
        found.push(record);
        if (found.length >= MAX_RECORDS) break;
      }
    }
  } finally {
    closeSync(fd);
  }
  return found;
}

/** Exit statuses that mean a seccomp filter killed the command (or, for 159, a child of it). */
function seccompEnding(exit: {
  exitCode: number | null;
  signal: string | null;
}): string | undefined {
  if (exit.signal === 'SIGSYS') return 'killed by SIGSYS';
  if (exit.exitCode === 128 + 31)
    return 'exit status 159 (a shell reporting a child killed by SIGSYS)';
  return undefined;
}

/** The kernel's log clock and node's monotonic clock may differ by this much. */
const KMSG_SLACK_US = 1_000_000;

/** Microseconds of CLOCK_MONOTONIC, the clock the kernel stamps /dev/kmsg records with. */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/**
 * Records a command the syscall filter killed, if this one was, with what the host kernel
 * logged of it since `startedUs` (a bwrap box's processes run on the host kernel; other drivers'
 * boxes run on a kernel of their own, which keeps its own log).
 */
export function auditSeccompEnd(run: {
  sandbox: string;
  isolation: { driver: string; hostUid: number };
  command: readonly string[] | string;
  exit: { exitCode: number | null; signal: string | null };
  startedUs: number;
}): void {
  const ended = seccompEnding(run.exit);
  if (ended === undefined) return;
  const { driver, hostUid } = run.isolation;
  audit({
    event: 'seccomp-violation',
    sandbox: run.sandbox,
    driver,
    argv: typeof run.command === 'string' ? run.command.slice(0, 4096) : run.command.slice(0, 64),
    ended,
    kernel:
      driver === 'bwrap'
        ? kernelSeccompRecords(run.startedUs - KMSG_SLACK_US, hostUid)
        : `the ${driver} driver's processes run on a kernel of the box's own, not the host's`,
  });
}
