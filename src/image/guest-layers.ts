import type { IsolationReport, LayerReport } from '../core/isolation.js';
import type { Limits } from '../core/limits.js';
import type { GuestImage } from './store.js';

/**
 * The layers every VM box has from its own guest kernel, whatever the VMM: the whole-VM
 * namespaces, the read-only image root, and the limits its init applies (image-init.ts).
 */
export function guestKernelLayers(
  image: GuestImage,
  limits: Limits,
): Pick<IsolationReport['layers'], 'namespaces' | 'filesystem' | 'rlimits' | 'cgroup'> {
  return {
    namespaces: {
      on: true,
      detail:
        'a whole VM: its own kernel, processes, mounts, network stack and hostname; the box runs as uid 1000 with no capabilities and no new privileges',
    },
    filesystem: {
      on: true,
      detail: `read-only ext4 root on a read-only virtio disk (image ${image.key}); tmpfs /tmp and /workspace; no host files`,
    },
    rlimits: {
      on: true,
      detail: `in the guest: nofile ${limits.openFiles}, nproc ${limits.processes}, fsize ${limits.fileSizeBytes}, core 0`,
    },
    cgroup: {
      on: true,
      detail: `in the guest kernel: pids ${limits.pids}${limits.memoryBytes === undefined ? '' : `, memory ${limits.memoryBytes} bytes`} (guest cgroup /box)`,
    },
  } satisfies Record<string, LayerReport>;
}
