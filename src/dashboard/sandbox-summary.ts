import { resolveLimits } from '../core/limits.js';
import type { DaemonSandbox } from '../runtime/daemon.js';

/** One sandbox as the page shows it. */
export interface SandboxSummary {
  id: string;
  driver: string;
  createdAt: string;
  alive: boolean;
  /** Bytes; null when the sandbox has no memory limit. */
  memoryBytes: number | null;
  pids: number;
  tmpBytes: number;
  workspaceBytes: number;
  allowNet: readonly string[];
  workspaceDir: string | null;
  layers: { name: string; on: boolean; detail: string }[];
}

export function summarize(entry: DaemonSandbox): SandboxSummary {
  const { sandbox } = entry;
  const limits = resolveLimits(entry.limits);
  const cgroup = sandbox.isolation.layers.cgroup;
  return {
    id: sandbox.id,
    driver: sandbox.isolation.driver,
    createdAt: sandbox.createdAt.toISOString(),
    alive: sandbox.alive,
    memoryBytes: limits.memoryBytes ?? appliedMemory(cgroup),
    pids: limits.pids,
    tmpBytes: limits.tmpBytes,
    workspaceBytes: limits.workspaceBytes,
    allowNet: entry.allowNet,
    workspaceDir: sandbox.workspaceDir ?? null,
    layers: Object.entries(sandbox.isolation.layers).map(([name, layer]) => ({
      name,
      on: layer.on,
      detail: layer.detail,
    })),
  };
}

/**
 * A memory limit the box got without asking (the daemon's default): its cgroup layer names it.
 * The layer report is what the box really has, so it is the one source for what was applied.
 */
function appliedMemory(cgroup: { on: boolean; detail: string }): number | null {
  const match = cgroup.on ? /memory (\d+) bytes/.exec(cgroup.detail) : null;
  return match?.[1] === undefined ? null : Number(match[1]);
}
