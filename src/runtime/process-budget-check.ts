import { type BoxUids, DEFAULT_BOX_UIDS } from '../core/box-uids.js';
import type { CgroupBackend } from '../host/cgroups.js';
import { DEFAULT_LEASE_DIR } from '../host/uid-lease.js';

/** What `ironclaw doctor` says about each box's process budget, from the configuration. */
export function processBudgetCheck(
  boxUids: BoxUids | undefined,
  cgroups: CgroupBackend,
  uid: number = process.getuid?.() ?? 0,
): { name: string; optional: true; ok: boolean; detail: string; fix?: string } {
  const name = 'process budget per box (RLIMIT_NPROC)';
  const pids = cgroups.available
    ? 'the pids cgroup still bounds each box on its own'
    : `nor is there a pids cgroup per box (${cgroups.reason})`;
  if (uid !== 0) {
    // The kernel counts a box's processes against the uid that made its user namespace too,
    // with the box's own limit: every box, and the user's own processes, share that count.
    return {
      name,
      optional: true,
      ok: cgroups.available,
      detail: `unprivileged: each box runs in a user namespace of its own, but as your uid ${uid} on the host, and RLIMIT_NPROC is counted over all of that uid's processes, your own and every box's, so what holds a fork bomb to its own box is ${cgroups.available ? 'the pids cgroup of each box' : `nothing per box on the host: there is no pids cgroup per box (${cgroups.reason})`}, and in a gVisor box its own kernel's task limit (RLIMIT_NPROC inside gVisor)`,
      ...(cgroups.available
        ? {}
        : {
            fix: 'run as root (each box then gets a host uid of its own), or start IronClaw in a delegated cgroup (IRONCLAW_CGROUP_PARENT)',
          }),
    };
  }
  if (boxUids === false)
    return {
      name,
      optional: true,
      ok: false,
      detail: `"boxUids": false: every box runs as the one rootBoxUid, so all boxes share one RLIMIT_NPROC budget and one box's fork bomb can starve the others of processes; ${pids}`,
      fix: 'remove "boxUids": false from the configuration (each box then gets a host uid of its own)',
    };
  const range = boxUids ?? DEFAULT_BOX_UIDS;
  return {
    name,
    optional: true,
    ok: true,
    detail: `each box (bwrap, gVisor's sentry and gofer, a VM's jailed VMM) runs as a host uid of its own from ${range.first}..${range.first + range.count - 1} (leased in ${DEFAULT_LEASE_DIR}), so RLIMIT_NPROC is its own budget; ${pids}`,
  };
}
