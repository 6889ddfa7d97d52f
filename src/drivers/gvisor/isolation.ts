import { readFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import type { IsolationReport, LayerReport } from '../../core/isolation.js';
import type { Limits } from '../../core/limits.js';
import { boxRlimits } from './oci-spec.js';
import type { BoxCgroup, CgroupBackend } from '../../host/cgroups.js';
import type { PlatformChoice } from './platform.js';
import type { SeccompChoice } from '../../host/seccomp-filter.js';
import { sandboxOciSeccomp } from './oci-seccomp.js';

/**
 * Host threads a gVisor box may use per task of its own: on ptrace, each box process has a stub
 * process with a traced thread for every sentry thread that ran it, and a loaded host makes the
 * sentry run more threads. Measured here at the peak of a fork bomb of 128 tasks: about 12 host
 * threads per task on a quiet machine (1465), more than 18 with both cores busy (the sentry hit
 * a backstop of 2304 and crashed: "error initializing first thread: resource temporarily
 * unavailable" in the ptrace platform). So a margin of more than twice that.
 */
const HOST_THREADS_PER_TASK = 48;
/** Host threads of runsc, the gofer and the idle sentry (77 measured for an idle agent box). */
const HOST_PIDS_HEADROOM = 256;

/**
 * The limits written into a gVisor box's host cgroup. The memory limit holds the whole sandbox
 * (sentry, gofer, runsc and the platform's stubs). The pids limit there is only a backstop above
 * the box's real task limit (RLIMIT_NPROC inside gVisor): a host pids cgroup counts the sentry's
 * own Go threads, and a sentry that cannot make a thread crashes ("runtime: failed to create
 * new OS thread", measured), so it must never be what a fork bomb meets first.
 */
export function hostCgroupLimits(limits: Limits): Limits {
  const threads = Math.min(limits.processes, limits.pids) * HOST_THREADS_PER_TASK;
  return { ...limits, pids: Math.min(threads + HOST_PIDS_HEADROOM, PID_MAX_LIMIT) };
}

/** The kernel's largest pid: pids.max takes no larger number. */
const PID_MAX_LIMIT = 4_194_304;

/**
 * The sentry's /proc status once it has installed runsc's seccomp filter, which it does after
 * runsc has written its pid file but before the box's first process runs; '' once it is gone.
 */
async function filteredStatus(pid: number, signal: AbortSignal): Promise<string> {
  for (;;) {
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    if (status === '' || /^Seccomp:\s*2$/m.test(status)) return status;
    await delay(5, undefined, { signal });
  }
}

export interface GvisorIsolationFacts {
  limits: Limits;
  cgroup: BoxCgroup | undefined;
  cgroups: CgroupBackend;
  choice: PlatformChoice;
  /** Host pid of the sentry: its uid and seccomp mode are read, not assumed. */
  sentryPid: number;
  /** What the caller asked of IronClaw's own syscall filter. */
  seccompChoice: SeccompChoice;
  /** Bounds the wait for the sentry to install its seccomp filter. */
  signal: AbortSignal;
}

/** The isolation a gVisor box got, with the sentry's host uid and seccomp mode as measured. */
export async function gvisorIsolation(facts: GvisorIsolationFacts): Promise<IsolationReport> {
  const { limits, cgroup, choice } = facts;
  const status = await filteredStatus(facts.sentryPid, facts.signal);
  const field = (name: string): string =>
    new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim() ?? '';
  const hostUid = Number(field('Uid').split(/\s+/)[0] ?? Number.NaN);
  const sentryFiltered = field('Seccomp') === '2';
  const nproc = boxRlimits(limits).find((rlimit) => rlimit.type === 'RLIMIT_NPROC')?.hard;
  return {
    driver: 'gvisor',
    hostUid: Number.isInteger(hostUid) ? hostUid : -1,
    layers: {
      namespaces: {
        on: true,
        detail: `box processes exist only in the gVisor kernel; its sentry runs as host uid ${hostUid} in new user, pid, net, ipc, uts and mount namespaces, chrooted`,
      },
      filesystem: {
        on: true,
        detail:
          'read-only root (a bundle skeleton) with host /usr bound read-only through the gofer; size-limited tmpfs /tmp, /dev/shm and /workspace; gVisor’s own /proc',
      },
      network: {
        on: true,
        detail: 'runsc --network=none: loopback only, in gVisor’s network stack',
      },
      rlimits: {
        on: true,
        detail: `nofile ${limits.openFiles}, nproc ${nproc} (every task of uid 1000 in the gVisor kernel: this is the box’s pids limit), fsize ${limits.fileSizeBytes}, core 0`,
      },
      cgroup: cgroup
        ? {
            on: true,
            detail: `${limits.memoryBytes === undefined ? 'no memory limit' : `memory ${limits.memoryBytes} bytes for the whole sandbox, sentry included (past it the box is ended)`}, host pids backstop ${hostCgroupLimits(limits).pids} (${cgroup.paths.join(', ')})`,
          }
        : {
            on: false,
            detail: facts.cgroups.available ? 'not created' : facts.cgroups.reason,
          },
      seccomp: await seccompLayer(facts.seccompChoice, {
        sentry: sentryFiltered
          ? 'runsc’s own seccomp allowlist confines the sentry’s host system calls'
          : `the sentry’s own seccomp mode is ${JSON.stringify(field('Seccomp'))}: runsc did not filter its host system calls`,
      }),
      kernel: {
        on: true,
        detail: `gVisor user-space kernel (runsc ${choice.version}), platform ${choice.platform} (${choice.reason})`,
      },
    },
  };
}

/**
 * IronClaw's policy inside the box: the sentry checks every system call of every box process
 * against it before its own kernel serves the call (the bundle's linux.seccomp, with runsc's
 * --oci-seccomp). The sentry's own host filter is runsc's and is reported beside it.
 */
async function seccompLayer(
  choice: SeccompChoice,
  measured: { sentry: string },
): Promise<LayerReport> {
  if (choice === 'none') {
    return {
      on: false,
      detail: `turned off by the caller (seccomp: none): box system calls reach gVisor’s kernel unfiltered; ${measured.sentry}`,
    };
  }
  const rendering = await sandboxOciSeccomp();
  return {
    on: true,
    detail: `policy "${rendering.policy}" enforced by the gVisor kernel on every box process (OCI linux.seccomp, runsc --oci-seccomp): ${rendering.unconditional} syscalls denied, ${rendering.conditional} decided by their arguments, as ${rendering.seccomp.syscalls.length} rules; ${measured.sentry}`,
  };
}
