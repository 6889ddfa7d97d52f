import type { CgroupBackend } from '../host/cgroups.js';
import { DEFAULT_BOX_UIDS, DEFAULT_LEASE_DIR, type UidRange } from '../host/uid-lease.js';

/** What `ironclaw doctor` says about each box's process budget, from the configuration. */
export function processBudgetCheck(
  boxUids: UidRange | undefined,
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
      detail: `unprivileged: each box runs in a user namespace of its own, but as your uid ${uid} on the host, and RLIMIT_NPROC is counted over all of that uid's processes, your own and every box's; ${pids}`,
      ...(cgroups.available
        ? {}
        : {
            fix: 'run as root with "boxUids" in the configuration, or start IronClaw in a delegated cgroup (IRONCLAW_CGROUP_PARENT)',
          }),
    };
  }
  if (boxUids === undefined)
    return {
      name,
      optional: true,
      ok: false,
      detail: `every box runs as the one rootBoxUid, so all boxes share one RLIMIT_NPROC budget and one box's fork bomb can starve the others of processes; ${pids}`,
      fix: `give each box a uid of its own: "boxUids": {"first": ${DEFAULT_BOX_UIDS.first}, "count": ${DEFAULT_BOX_UIDS.count}} in the configuration`,
    };
  return {
    name,
    optional: true,
    ok: true,
    detail: `each box (bwrap, and the jailed VMM of a VM) runs as a host uid of its own from ${boxUids.first}..${boxUids.first + boxUids.count - 1} (leased in ${DEFAULT_LEASE_DIR}), so RLIMIT_NPROC is its own budget; runsc runs every gVisor sentry as 65534 whatever the range, where a box's task limit is RLIMIT_NPROC inside gVisor's kernel`,
  };
}
