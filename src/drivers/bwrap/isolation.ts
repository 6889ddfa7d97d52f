import type { IsolationReport } from '../../core/isolation.js';
import type { Limits } from '../../core/limits.js';
import type { SpawnBoxOptions } from '../../host/box-process.js';
import type { BoxCgroup } from '../../host/cgroups.js';

/** A bwrap box's options once resolved: every limit set, and the filter's summary if one is on. */
export type BwrapOptions = SpawnBoxOptions & { limits: Limits; seccompSummary: string | undefined };

/** What a bwrap box got, layer by layer, for API results, --json output and audit events. */
export function bwrapIsolation(
  options: BwrapOptions,
  cgroup: BoxCgroup | undefined,
  hostUid: number,
): IsolationReport {
  const { limits } = options;
  return {
    driver: 'bwrap',
    hostUid,
    layers: {
      namespaces: {
        on: true,
        detail: 'user, pid, net, ipc, uts and cgroup namespaces; no capabilities',
      },
      filesystem: {
        on: true,
        detail: `read-only root from host /usr; tmpfs /tmp and /workspace; fresh /proc${mountsDetail(options)}`,
      },
      network: { on: true, detail: 'no network: loopback only' },
      rlimits: {
        on: true,
        detail: `nofile ${limits.openFiles}, nproc ${limits.processes}, fsize ${limits.fileSizeBytes}, core 0`,
      },
      cgroup: cgroup
        ? {
            on: true,
            detail: `pids ${limits.pids}${limits.memoryBytes === undefined ? '' : `, memory ${limits.memoryBytes} bytes`} (${cgroup.paths.join(', ')})`,
          }
        : { on: false, detail: options.cgroups.available ? 'not created' : options.cgroups.reason },
      seccomp:
        options.seccompSummary === undefined
          ? { on: false, detail: 'turned off by the caller (seccomp: none)' }
          : { on: true, detail: options.seccompSummary },
    },
  };
}

function mountsDetail(options: BwrapOptions): string {
  const mounts = options.mounts ?? [];
  if (mounts.length === 0) return '';
  const each = mounts.map(
    (mount) => `${mount.host} at ${mount.guest} (${mount.readOnly ? 'read-only' : 'read-write'})`,
  );
  return `; host paths bound in: ${each.join(', ')}`;
}
