import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { markOwner, sweepDeadOwners } from '../../host/dir-owner.js';
import { defaultStateDir, ensureStateDir, rootSharedDir } from '../../host/state-dir.js';

/**
 * One VM's private runtime directory (0700): the agent, control, QMP and migration sockets, QEMU's stderr
 * (qemu.log) and the guest's serial console (console.log). Removing it removes every file of
 * the VM. Its jailed VMM reaches it by its path, so the directory must be reachable by the
 * VMM's uid: run as root (VMM as nobody), VM directories live in `<state dir>-vmm`, which is
 * root's, mode 0711 (enterable, not listable), each VM's directory then belonging to the VMM's
 * uid; otherwise (the VMM is the caller) under the state directory itself.
 */
export interface VmRuntimeDir {
  readonly dir: string;
  readonly agentSocket: string;
  /** The restore helper's port (image-init.ts). */
  readonly controlSocket: string;
  readonly qmpSocket: string;
  /** Where QEMU sends (template) or takes (clone) its migration stream. */
  readonly migrationSocket: string;
  readonly consoleLog: string;
  readonly qemuLog: string;
  remove(): Promise<void>;
}

/** Where VM directories (and templates, qemu-template.ts) live; made safe on first use. */
export function vmmBase(): Promise<string> {
  return process.getuid?.() === 0
    ? rootSharedDir(`${defaultStateDir()}-vmm`, 'VMs')
    : userVmmBase();
}

export async function makeVmRuntimeDir(id: string): Promise<VmRuntimeDir> {
  const base = await vmmBase();
  // Short: socket paths must fit in sockaddr_un (108 bytes) under $XDG_RUNTIME_DIR too.
  const dir = await mkdtemp(join(base, `${id.slice(0, 24)}-`));
  await markOwner(dir);
  return {
    dir,
    agentSocket: join(dir, 'agent.sock'),
    controlSocket: join(dir, 'control.sock'),
    qmpSocket: join(dir, 'qmp.sock'),
    migrationSocket: join(dir, 'migrate.sock'),
    consoleLog: join(dir, 'console.log'),
    qemuLog: join(dir, 'qemu.log'),
    remove: () => rm(dir, { recursive: true, force: true, maxRetries: 3 }),
  };
}

/**
 * Removes the VM directories left by owners that died without removing them (a process killed
 * with SIGKILL: its VMM died with it, jailed with --die-with-parent), with the RAM file of a
 * template build they interrupted. The templates themselves are the store's (template.ts).
 */
export async function sweepVmRuntimeDirs(): Promise<number> {
  const base =
    process.getuid?.() === 0 ? `${defaultStateDir()}-vmm` : join(defaultStateDir(), 'qemu');
  return (await sweepDeadOwners(base)).length;
}

async function userVmmBase(): Promise<string> {
  return ensureStateDir(join(await ensureStateDir(defaultStateDir()), 'qemu'));
}
