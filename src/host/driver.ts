import { IronClawError, unwrap } from '../core/errors.js';
import type { DriverName } from '../core/isolation.js';
import { checkLimitFloor, type LimitFloor, type Limits } from '../core/limits.js';
import type { BoxPayload, BoxProcess, SpawnBoxOptions } from './box-process.js';

/*
 * A driver as the layers above see it: its name, what it can do, a probe, and the function that
 * starts a box. Code above the drivers asks these questions and never a driver's name, so a new
 * capability is one field here and one value per driver.
 */

export interface DriverCapabilities {
  /** Runs one command as the box's payload, with no guest agent (a one-shot run). */
  commandPayload: boolean;
  /**
   * A command payload's stdin can be a pipe the host writes (payload `stdin: 'pipe'`), so a box
   * can be started before its command is known and be given it then (runtime/primed-box.ts).
   */
  pipedStdin?: true;
  /** Binds host paths into the box. */
  hostMounts: boolean;
  /** Adds variables to the box's fixed environment. */
  extraEnv: boolean;
  /** Restores boxes from templates (snapshots) of a booted box. */
  templates: boolean;
  /**
   * Its guest agent can run a command in a pseudo-terminal (`exec -t`): the box has devpts and
   * the host's util-linux `script` (src/guest/pty.ts).
   */
  pty: boolean;
  /**
   * How a box reaches its egress proxy on the host, if at all. 'socket': the proxy's Unix socket
   * is bound into the box (SpawnBoxOptions.egressSocket) and the guest agent bridges its
   * loopback to it. 'channel': the box has no way to the host but the agent's channel, and each
   * connection to the agent's loopback port becomes a stream over it (protocol/stream-mux.ts)
   * that the host joins to the proxy. Either way the box gets no route and no interface.
   */
  egress: EgressPath | false;
  /** How long the guest agent may take to answer its first ping, unless the caller says. */
  startTimeoutMs: number;
  /**
   * A box has memory of its own (a VM's RAM) that bounds it whatever its limits, and enforces
   * the limits it is given in its own kernel, with no host cgroups.
   */
  ownMemory: boolean;
  /** The least memory and pids a box needs to start, by payload (measured: see the driver). */
  floors: Readonly<Record<BoxPayload['kind'], LimitFloor>>;
}

/** See DriverCapabilities.egress. */
export type EgressPath = 'socket' | 'channel';

/** Whether this host can start the driver's boxes, and if not, why and what would fix it. */
export interface DriverProbe {
  /** What was probed, as doctor shows it ("bwrap binary", "gvisor sandbox (runsc)", ...). */
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

export interface Driver {
  readonly name: DriverName;
  /** The isolation it gives, in a few words (doctor, help texts). */
  readonly summary: string;
  readonly capabilities: Readonly<DriverCapabilities>;
  probe(): Promise<DriverProbe>;
  spawn(options: SpawnBoxOptions): Promise<BoxProcess>;
  /**
   * Removes what boxes of owners that died without cleaning up left on the host (runtime
   * directories, each naming its owner: host/dir-owner.ts), never a live owner's; returns how
   * many it removed. Absent for a driver that leaves nothing but cgroups (swept on their own).
   */
  sweep?(): Promise<number>;
}

/** The spawn options that need a capability: what a caller asked of a driver. */
export type CapabilityRequest = {
  [K in 'mounts' | 'env' | 'template']?: SpawnBoxOptions[K] | undefined;
} & {
  /** Network egress through the host proxy (see DriverCapabilities.egress). */
  egress?: boolean | undefined;
  /** A command in a pseudo-terminal. */
  pty?: boolean | undefined;
};

/** Each option that needs a capability, how to tell it was asked for, and how to name it. */
const OPTION_CAPABILITIES: readonly {
  capability: keyof DriverCapabilities;
  option: string;
  asked: (request: CapabilityRequest) => boolean;
}[] = [
  {
    capability: 'hostMounts',
    option: 'host mounts',
    asked: (request) => (request.mounts?.length ?? 0) > 0,
  },
  {
    capability: 'extraEnv',
    option: 'extra environment variables',
    asked: (request) => Object.keys(request.env ?? {}).length > 0,
  },
  { capability: 'templates', option: 'templates', asked: (request) => request.template === true },
  {
    capability: 'egress',
    option: 'network egress (through its proxy on the host)',
    asked: (request) => request.egress === true,
  },
  { capability: 'pty', option: 'a pseudo-terminal (-t)', asked: (request) => request.pty === true },
];

/**
 * Fails closed when a request needs what the driver cannot do: a driver that does not know an
 * option would drop it without a word. Names the capability and the drivers that have it.
 */
export function assertDriverCan(
  driver: Driver,
  request: CapabilityRequest,
  drivers: readonly Driver[],
): void {
  for (const { capability, option, asked } of OPTION_CAPABILITIES) {
    if (driver.capabilities[capability] || !asked(request)) continue;
    const able = drivers.filter((other) => other.capabilities[capability]).map((d) => d.name);
    throw new IronClawError(
      'POLICY_UNENFORCEABLE',
      `the ${driver.name} driver cannot enforce ${option} (capability ${capability})${able.length > 0 ? `; drivers that can: ${able.join(', ')}` : ''}`,
    );
  }
}

/**
 * Refuses limits too small for the driver's box to start (or past the kernel's ceiling), before
 * anything is spawned: such a box would only die during start-up, with a less useful error.
 */
export function assertLimitsFit(
  driver: Driver,
  limits: Partial<Limits>,
  payload: BoxPayload['kind'],
): void {
  unwrap(checkLimitFloor(limits, driver.capabilities.floors[payload], `a ${driver.name} sandbox`));
}
