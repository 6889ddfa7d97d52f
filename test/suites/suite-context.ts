import { createSandbox, type Sandbox, type SandboxOptions } from '../../src/index.js';
import type { CgroupProbe } from '../support/cgroup-probe.js';

export type Driver = NonNullable<SandboxOptions['driver']>;

/** What a driver's suite run may expect of this host, this user and this driver. */
export interface SandboxSuiteOptions {
  /**
   * The box's processes are host processes in their own pid namespace (bwrap), so the suite also
   * checks them from the host's /proc. A VM or a gVisor sentry hides them: set false there.
   */
  hostPidNamespace: boolean;
  /** cgroup support for this user, probed by the tests (unprivileged on cgroup v1: none). */
  cgroups: CgroupProbe;
  /**
   * The box is a VM (qemu): its limits, cgroup and processes live in its own guest kernel, so
   * the suite reads them from inside the box and expects them whatever the host allows.
   */
  vm?: boolean;
  /** Options every sandbox of this run is created with (a slow TCG boot needs a longer start). */
  createDefaults?: Omit<SandboxOptions, 'driver'>;
}

export interface SuiteContext {
  readonly driver: Driver;
  readonly options: SandboxSuiteOptions;
  /** Creates a sandbox of the driver under test; the caller destroys it. */
  create(options?: Omit<SandboxOptions, 'driver'>): Promise<Sandbox>;
}

export function suiteContext(driver: Driver, options: SandboxSuiteOptions): SuiteContext {
  return {
    driver,
    options,
    create: (extra = {}) => createSandbox({ ...options.createDefaults, ...extra, driver }),
  };
}

/** A sandbox id no other run on this machine uses (cgroup names are global). */
export function uniqueId(prefix: string): string {
  return `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}
