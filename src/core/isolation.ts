/** Names of the sandbox drivers this version has. */
export const DRIVERS = ['bwrap', 'gvisor', 'qemu', 'firecracker'] as const;
export type DriverName = (typeof DRIVERS)[number];

/** What one isolation layer of a sandbox actually got: on, or off with the reason. */
export interface LayerReport {
  on: boolean;
  detail: string;
}

/**
 * The isolation a sandbox really has, reported in API results, `--json` output and audit events
 * (DESIGN.md: honest tiers).
 */
export interface IsolationReport {
  driver: DriverName;
  /** Host uid the box's processes run as (its in-box uid is always 1000). */
  hostUid: number;
  layers: {
    namespaces: LayerReport;
    filesystem: LayerReport;
    network: LayerReport;
    rlimits: LayerReport;
    cgroup: LayerReport;
    seccomp: LayerReport;
    /** A kernel between the box and the host's, for drivers that have one (gVisor, a VM). */
    kernel?: LayerReport;
  };
}
