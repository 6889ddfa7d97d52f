import { randomBytes } from 'node:crypto';
import { reportLongWork } from '../../host/long-work.js';
import { open, readFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { IronClawError, unwrap } from '../../core/errors.js';
import { resolveLimits } from '../../core/limits.js';
import { seccompPolicyFile } from '../../core/seccomp/compile-for-host.js';
import { loadPolicy } from '../../core/seccomp/load-policy.js';
import type { Policy } from '../../core/seccomp/policy.js';
import { sandboxSeccompFilter } from '../../host/seccomp-filter.js';
import {
  type BoxProcess,
  requireAgentPayload,
  type SpawnBoxOptions,
} from '../../host/box-process.js';
import { FirecrackerApiClient } from './api-client.js';
import { createOwnedFile, placeInChroot, removeJail } from './chroot.js';
import {
  AGENT_VSOCK_PORT,
  bootRequests,
  firecrackerArgs,
  firecrackerCmdline,
  IN_CHROOT,
} from './config.js';
import { firecrackerIsolation } from './isolation.js';
import {
  hostCgroupVersion,
  jailCgroupDirs,
  jailDirs,
  type JailerOptions,
  jailerArgs,
} from './jailer.js';
import { type JailedFirecracker, launchJailed } from './launch.js';
import { compileFirecrackerFilter, firecrackerFilterFile } from './seccomp.js';
import { firecrackerHost } from './tools.js';
import { dialHybridVsock } from './vsock.js';
import { ensureImage } from '../../image/build.js';
import { packageRoot } from '../../host/package-files.js';
import { guestMemoryMiB } from '../../image/vm-guest.js';
import { ensureStateDir, persistentStateDir } from '../../host/state-dir.js';

/** From the jailer's start to the guest agent answering a vsock CONNECT (a KVM boot: seconds). */
const LAUNCH_TIMEOUT_MS = 30_000;
/** Our VMM allow-list for Firecracker, when the package has one (else Firecracker's own). */
const VMM_POLICY_FILE = seccompPolicyFile('vmm-firecracker');
/** The cgroup the jailer makes each VM's cgroup in. */
const PARENT_CGROUP = 'ironclaw-firecracker';
/** The VMM's own memory beyond guest RAM (Firecracker's overhead is a few MiB). */
const VMM_OVERHEAD_MIB = 128;
/** Threads of the VMM: vmm, api and one per vCPU, with room. */
const VMM_PIDS = 64;
/** sockaddr_un holds 108 bytes, with the terminating NUL. */
const MAX_SOCKET_PATH = 107;

/**
 * Starts a Firecracker micro-VM box: the guest image (the same one QEMU boots: Firecracker
 * needs the uncompressed vmlinux, which the image has) behind the jailer, configured through
 * the API socket, with the root filesystem on a read-only virtio disk and the guest agent on
 * AF_VSOCK port AGENT_VSOCK_PORT, reached through Firecracker's hybrid vsock socket.
 *
 * The jail: `<data dir>/jail/firecracker/<jail id>/root` with the image files hard-linked in,
 * the VMM as `rootBoxUid` in new mount and pid namespaces, its own cgroup (memory, pids), rlimits,
 * and a seccomp filter: ours (policies/seccomp/vmm-firecracker.json, compiled at start by the
 * release's seccompiler-bin) when the package has that policy, Firecracker's built-in one else.
 *
 * Fails fast: if the jail or the VMM exits before the agent answers, the start fails at once
 * quoting their stderr, the guest console and Firecracker's log. Destroy kills the VMM and
 * removes the jail directory and the cgroup.
 */
export async function spawnFirecrackerBox(options: SpawnBoxOptions): Promise<BoxProcess> {
  requireAgentPayload(options, 'firecracker');
  const tools = await firecrackerHost();
  if (typeof tools === 'string') throw new IronClawError('DRIVER_UNAVAILABLE', tools);
  const limits = resolveLimits(options.limits);
  const memoryMiB = guestMemoryMiB(limits);
  const [image, policy, guestFilter, cgroupVersion, base] = await Promise.all([
    ensureImage({ progress: (message) => reportLongWork(`image: ${message}`) }),
    // 'none' leaves out our filter, as for QEMU; Firecracker's built-in one stays (never --no-seccomp).
    options.seccomp === 'none' ? undefined : vmmPolicy(),
    // The guest agent starts every command under the sandbox filter, as in a QEMU guest.
    options.seccomp === 'none' ? undefined : sandboxSeccompFilter(),
    hostCgroupVersion(),
    ensureStateDir(join(persistentStateDir(), 'jail')),
  ]);
  if (image.kernel.format !== 'pvh') {
    throw new IronClawError(
      'DRIVER_UNAVAILABLE',
      `Firecracker boots an uncompressed vmlinux, and the guest image's kernel is a ${image.kernel.detail}`,
    );
  }
  const owner = { uid: options.rootBoxUid, gid: options.rootBoxUid };
  const vmmBytes = (memoryMiB + VMM_OVERHEAD_MIB) * 1024 ** 2;
  const jail: JailerOptions = {
    id: `${options.id.slice(0, 40)}-${randomBytes(4).toString('hex')}`,
    execFile: tools.firecracker,
    uid: owner.uid,
    gid: owner.gid,
    cgroupVersion,
    parentCgroup: PARENT_CGROUP,
    cgroups: [
      { file: cgroupVersion === 2 ? 'memory.max' : 'memory.limit_in_bytes', value: `${vmmBytes}` },
      { file: 'pids.max', value: `${VMM_PIDS}` },
    ],
    chrootBaseDir: base,
    newPidNs: false, // launchJailed gives it a pid namespace of its own, see there
    daemonize: false,
    // fsize: room for a snapshot of guest memory; it bounds Firecracker's log file too.
    resourceLimits: { noFile: 1024, fsize: (memoryMiB + 64) * 1024 ** 2 },
    firecrackerArgs: firecrackerArgs({ seccompFilter: policy !== undefined }),
  };
  const { jailDir, chrootDir } = jailDirs(jail);
  const cgroupDirs = jailCgroupDirs(jail);
  const vsockPath = join(chrootDir, IN_CHROOT.vsockSocket);
  if (Buffer.byteLength(vsockPath) > MAX_SOCKET_PATH) {
    throw new IronClawError(
      'DRIVER_UNAVAILABLE',
      `the VM's socket path ${vsockPath} is longer than a Unix socket address allows; set IRONCLAW_DATA_DIR to a shorter directory`,
    );
  }
  // Stopped when the start fails, so the API and vsock retries behind a lost race stop too.
  const stop = new AbortController();
  const signal = AbortSignal.any([AbortSignal.timeout(LAUNCH_TIMEOUT_MS), stop.signal]);
  let vm: JailedFirecracker | undefined;
  let agent: Socket;
  try {
    await placeInChroot(
      chrootDir,
      [
        { source: image.kernel.path, name: IN_CHROOT.kernel },
        { source: image.initramfs, name: IN_CHROOT.initramfs },
        { source: image.rootfs, name: IN_CHROOT.rootfs },
      ],
      owner,
    );
    await createOwnedFile(join(chrootDir, IN_CHROOT.log), owner);
    if (policy) {
      const file = unwrap(
        firecrackerFilterFile({ vmm: policy, api: policy, vcpu: policy }, 'x86_64'),
      );
      await compileFirecrackerFilter(file, {
        arch: 'x86_64',
        output: join(chrootDir, IN_CHROOT.seccomp),
        signal,
      });
    }
    vm = await launchJailed(tools.jailer, jailerArgs(jail), {
      consoleLog: join(jailDir, 'console.log'),
      signal,
    });
    agent = await configureAndConnect(vm, chrootDir, {
      memoryMiB,
      cmdline: firecrackerCmdline(limits, guestFilter?.sha256),
      signal,
    });
  } catch (error) {
    stop.abort();
    const log = await fileTail(join(chrootDir, IN_CHROOT.log));
    await vm?.kill();
    await removeJail(jailDir, cgroupDirs);
    const reason = error instanceof Error ? error.message : String(error);
    throw new IronClawError(
      'SANDBOX_START_FAILED',
      `Firecracker did not start: ${reason}\n${vm?.tail() ?? ''}\nFirecracker log: ${log || '(empty)'}`,
      { cause: error },
    );
  }
  agent.on('error', () => undefined); // the RPC client reports a broken channel
  const started = vm;
  const isolation = firecrackerIsolation({
    limits,
    guestFilter: guestFilter?.summary,
    image,
    memoryMiB,
    hostUid: owner.uid,
    vmmSeccomp: policy
      ? `our seccomp policy "${policy.name}" on all its threads, compiled by seccompiler-bin`
      : "Firecracker's built-in seccomp filters (an allow-list per thread)",
    vmmCgroup: `cgroup v${cgroupVersion} ${PARENT_CGROUP}/${jail.id} (memory ${vmmBytes} bytes, pids ${VMM_PIDS})`,
    version: tools.version,
  });
  let destroying: Promise<void> | undefined;
  return {
    id: options.id,
    process: started.child,
    boxPid: started.pid,
    isolation,
    agent,
    started: Promise.resolve(true),
    exited: started.exited,
    stderrTail: () => started.tail(),
    destroy: () => {
      destroying ??= (async () => {
        agent.destroy();
        await started.kill();
        const leftovers = await removeJail(jailDir, cgroupDirs);
        if (leftovers.length > 0) {
          throw new IronClawError(
            'INTERNAL',
            `Firecracker VM ${jail.id} is gone, but not all of its jail: ${leftovers.map((error) => error.message).join('; ')}`,
          );
        }
      })();
      return destroying;
    },
  };
}

/**
 * Configures the VM through its API, one request at a time, starts it and dials the agent, all
 * raced against the VMM's exit so that a VMM that dies fails the start at once.
 */
async function configureAndConnect(
  vm: JailedFirecracker,
  chrootDir: string,
  options: { memoryMiB: number; cmdline: string; signal: AbortSignal },
): Promise<Socket> {
  const { signal } = options;
  const died = vm.exited.then((outcome) => {
    throw new IronClawError(
      'SANDBOX_START_FAILED',
      `the VMM exited during start-up (${outcome.signal ?? `exit code ${outcome.code}`})`,
    );
  });
  died.catch(() => undefined);
  const api = new FirecrackerApiClient(join(chrootDir, IN_CHROOT.apiSocket));
  await Promise.race([api.waitUntilServing({ signal }), died]);
  for (const call of bootRequests(options)) await Promise.race([api.send(call, { signal }), died]);
  const vsock = join(chrootDir, IN_CHROOT.vsockSocket);
  return Promise.race([dialHybridVsock(vsock, AGENT_VSOCK_PORT, { signal }), died]);
}

let policyLoad: Promise<Policy | undefined> | undefined;

/** Our Firecracker VMM policy, validated; undefined when the package has none. */
function vmmPolicy(): Promise<Policy | undefined> {
  policyLoad ??= (async () => {
    const file = join(await packageRoot(), VMM_POLICY_FILE);
    const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (text === undefined) return undefined;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new IronClawError('POLICY_UNENFORCEABLE', `${VMM_POLICY_FILE} is not JSON`, {
        cause: error,
      });
    }
    return unwrap(loadPolicy(json, VMM_POLICY_FILE));
  })();
  policyLoad.catch(() => (policyLoad = undefined));
  return policyLoad;
}

/** The last few KiB of a file, for an error message; '' when it cannot be read. */
async function fileTail(path: string, bytes = 4096): Promise<string> {
  const handle = await open(path, 'r').catch(() => undefined);
  if (!handle) return '';
  try {
    const { size } = await handle.stat();
    const start = Math.max(0, size - bytes);
    const { buffer, bytesRead } = await handle.read(
      Buffer.alloc(size - start),
      0,
      size - start,
      start,
    );
    return buffer.subarray(0, bytesRead).toString('utf8').trim();
  } finally {
    await handle.close();
  }
}
