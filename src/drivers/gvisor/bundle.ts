import type { StdioOptions } from 'node:child_process';
import { chmod, copyFile, mkdir, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Limits } from '../../core/limits.js';
import { AGENT_PATH, BOX_ETC_FILES } from '../../host/box-env.js';
import { type GvisorPlatform, type RunscBox, startRunsc } from './runsc.js';
import { detectHostLayout, type HostLayout } from '../../host/host-layout.js';
import { type OciSpec, ociSpec, type ReadOnlyBind, readOnlyBinds } from './oci-spec.js';
import { ociConfigJson, sandboxOciSeccomp } from './oci-seccomp.js';
import type { SeccompChoice } from '../../host/seccomp-filter.js';
import { boxEtcDir, guestBundlePath } from '../../host/package-files.js';
import { type BoxRuntimeDir, handOver } from './runtime-dir.js';
import { packWorkspaceToFile } from '../../host/workspace-tar.js';
import type { WorkspaceScan } from '../../host/workspace-scan.js';

/** Where the command payload finds the workspace copied in (a tar made on the host). */
export const WORKSPACE_TAR = '/.ironclaw/workspace.tar';

export interface LaunchOptions {
  runsc: string;
  platform: GvisorPlatform;
  limits: Limits;
  /** The box's first process and its whole environment (nothing comes from the host). */
  args: readonly string[];
  env: Readonly<Record<string, string>>;
  stdio: StdioOptions;
  /** cgroup.procs files to start runsc in; none when the box has no cgroup. */
  cgroupProcs?: readonly string[];
  /** Copy the guest agent bundle into the box. */
  withAgent?: boolean;
  /** A scanned host directory to pack into the box for the payload to unpack into /workspace. */
  workspace?: WorkspaceScan | undefined;
  /**
   * IronClaw's syscall policy, enforced by the sentry on every box process; 'none' (or absent,
   * as for the platform probe) leaves only gVisor's own kernel between the box and the host.
   */
  seccomp?: SeccompChoice;
  /** As root: the box's own host uid, which runsc runs as (see RunscOptions.boxUid). */
  boxUid?: number | undefined;
}

/**
 * Writes the OCI bundle of one box into its runtime directory and starts runsc on it. Shared
 * by the driver and by the platform probe, so the probe box is built like every other box.
 * The caller destroys the returned runsc box and removes the runtime directory.
 */
export async function launchBox(runtime: BoxRuntimeDir, options: LaunchOptions): Promise<RunscBox> {
  const [layout, etcDir, agentPath, seccomp] = await Promise.all([
    detectHostLayout(),
    boxEtcDir(),
    options.withAgent ? guestBundlePath() : undefined,
    options.seccomp === 'sandbox' ? sandboxOciSeccomp() : undefined,
  ]);
  const binds = readOnlyBinds(layout, await hostEtcKinds(layout));
  await writeBundle(runtime, {
    spec: ociSpec({
      layout,
      limits: options.limits,
      binds,
      args: options.args,
      env: options.env,
      seccomp: seccomp?.seccomp,
    }),
    layout,
    binds,
    etcDir,
    agentPath,
    workspace: options.workspace,
  });
  if (options.boxUid !== undefined) await handOver(runtime, options.boxUid);
  return startRunsc({
    runsc: options.runsc,
    runtime,
    platform: options.platform,
    stdio: options.stdio,
    cgroupProcs: options.cgroupProcs ?? [],
    boxUid: options.boxUid,
  });
}

interface BundleContents {
  spec: OciSpec;
  layout: HostLayout;
  binds: readonly ReadOnlyBind[];
  /** The package's box/etc directory: the box's own passwd, group, hosts, ... */
  etcDir: string;
  /** The guest agent bundle, copied to AGENT_PATH. */
  agentPath?: string | undefined;
  /** A scanned host directory packed (by IronClaw, as this user) into WORKSPACE_TAR. */
  workspace?: WorkspaceScan | undefined;
}

/**
 * Writes the bundle: config.json from the typed spec, and the root skeleton that the read-only
 * root mount shows: the /usr symlinks, mount points, copies of the box's /etc files and of the
 * guest agent. Nothing of the host is in it beyond what the spec binds read-only.
 */
async function writeBundle(runtime: BoxRuntimeDir, contents: BundleContents): Promise<void> {
  const root = runtime.rootfs;
  const inRoot = (path: string): string => join(root, path);
  const dirs = ['/proc', '/dev', '/tmp', '/workspace', '/etc', '/.ironclaw'];
  for (const bind of contents.binds)
    dirs.push(bind.kind === 'directory' ? bind.path : dirname(bind.path));
  await Promise.all(dirs.map((dir) => mkdir(inRoot(dir), { recursive: true, mode: 0o755 })));
  await Promise.all([
    ...contents.layout.usrSymlinks.map((link) => symlink(link.target, inRoot(link.path))),
    ...contents.binds
      .filter((bind) => bind.kind === 'file')
      .map((bind) => writeFile(inRoot(bind.path), '', { mode: 0o444 })),
    ...BOX_ETC_FILES.map((name) =>
      copyReadable(join(contents.etcDir, name), inRoot(join('/etc', name))),
    ),
    contents.agentPath === undefined
      ? undefined
      : copyReadable(contents.agentPath, inRoot(AGENT_PATH)),
    contents.workspace === undefined
      ? undefined
      : packWorkspaceToFile(contents.workspace, inRoot(WORKSPACE_TAR)),
    writeFile(join(runtime.bundle, 'config.json'), ociConfigJson(contents.spec), { mode: 0o600 }),
  ]);
}

async function copyReadable(from: string, to: string): Promise<void> {
  await copyFile(from, to);
  await chmod(to, 0o444);
}

let etcKinds: Promise<Map<string, ReadOnlyBind['kind']>> | undefined;

/** Whether each host /etc entry to bind is a file or a directory (symlinks followed), once. */
function hostEtcKinds(layout: HostLayout): Promise<Map<string, ReadOnlyBind['kind']>> {
  etcKinds ??= Promise.all(
    layout.etcBinds.map(async (path) => {
      const info = await stat(path).catch(() => undefined);
      return [path, info?.isDirectory() ? 'directory' : info ? 'file' : undefined] as const;
    }),
  ).then(
    (entries) =>
      new Map(
        entries.flatMap(([path, kind]) => (kind === undefined ? [] : [[path, kind] as const])),
      ),
  );
  return etcKinds;
}
