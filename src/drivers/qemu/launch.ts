import { type ChildProcess, execFile } from 'node:child_process';
import { chown, stat } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { promisify } from 'node:util';
import { IronClawError } from '../../core/errors.js';
import { BoundedTail } from '../../host/bounded-tail.js';
import { spawnJailedVmm } from './jail.js';
import { keepOutput, vmmKiller } from '../../host/vmm-output.js';
import type { SeccompChoice } from '../../host/seccomp-filter.js';
import type { VmRuntimeDir } from './runtime-dir.js';

const execFileAsync = promisify(execFile);

/** A started VM: its jailed QEMU, the agent connection, its exit and the evidence of a failure. */
export interface RunningVm {
  /** The jail (prlimit, then bwrap) holding QEMU. */
  readonly child: ChildProcess;
  /** QEMU's own host pid. */
  readonly pid: number;
  /** IronClaw's filter on the VMM, in words, or undefined when the caller turned it off. */
  readonly seccomp: string | undefined;
  /** QEMU's connection to the agent's virtio-serial port. */
  readonly agent: Socket;
  /** QEMU's connection to the restore helper's port (launched with `control`). */
  readonly control: Socket | undefined;
  /** Settles when QEMU has exited and its output is read to the end. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The tails of QEMU's stderr and of the guest console, for error messages. */
  tail(): string;
  /**
   * The next connection QEMU makes to the agent socket: after the host closes one, QEMU dials
   * again (the chardev's reconnect option) and the guest agent, which reopens its port, serves
   * the new one.
   */
  nextAgent(signal: AbortSignal): Promise<Socket>;
  /** SIGKILL to QEMU and its jail; resolves once they have exited. Idempotent. */
  kill(): Promise<void>;
}

/**
 * The uid and gid the VMM runs as: as root, `rootVmmUid`, with the group of /dev/kvm when KVM is
 * used and the device is group-accessible (the kvm group); otherwise the caller's own.
 */
async function vmmIds(options: LaunchOptions): Promise<{ uid: number; gid: number }> {
  if (process.getuid?.() !== 0)
    return { uid: process.getuid?.() ?? -1, gid: process.getgid?.() ?? -1 };
  const kvm = options.kvm ? await stat('/dev/kvm').catch(() => undefined) : undefined;
  const kvmGroup = kvm !== undefined && (kvm.mode & 0o060) === 0o060 ? kvm.gid : undefined;
  return { uid: options.rootVmmUid, gid: kvmGroup ?? options.rootVmmUid };
}

/** The QEMU binary: IRONCLAW_QEMU, else qemu-system-x86_64 from PATH. */
export function qemuBinary(): string {
  return process.env.IRONCLAW_QEMU ?? 'qemu-system-x86_64';
}

const versions = new Map<string, Promise<string>>();

/** The first line of `qemu --version` (it names Debian's package version too), once per binary. */
export function qemuVersion(): Promise<string> {
  const qemu = qemuBinary();
  let version = versions.get(qemu);
  if (!version) {
    version = execFileAsync(qemu, ['--version'], { timeout: 5000 }).then(
      ({ stdout }) => stdout.split('\n')[0] ?? '',
      () => 'unknown',
    );
    versions.set(qemu, version);
  }
  return version;
}

export interface LaunchOptions {
  signal: AbortSignal;
  /** Host files QEMU reads: kernel, initramfs, root filesystem. */
  files: readonly string[];
  kvm: boolean;
  /** The uid the VMM runs as when IronClaw runs as root (else it runs as the caller). */
  rootVmmUid: number;
  /** QEMU's argv has the restore helper's port: listen on its socket too. */
  control: boolean;
  /** Descriptors QEMU inherits, at these numbers (a template's sealed memory, say). */
  inherit?: readonly { fd: number; at: number }[];
  /** The largest file QEMU may write (a template VM's RAM file); none otherwise. */
  maxFileBytes?: number;
  /** 'none' leaves out IronClaw's VMM filter (QEMU's own stays): for diagnosis only. */
  seccomp?: SeccompChoice;
}

/**
 * Starts QEMU on `args`, jailed (qemu-jail.ts), and resolves when it has connected to the agent
 * socket (which we listen on before it starts). If QEMU exits first, or fails to run, or
 * `signal` fires, it rejects at once with QEMU's stderr and the guest console quoted; nothing
 * waits out a timeout.
 */
export async function launchVm(
  runtime: VmRuntimeDir,
  args: readonly string[],
  options: LaunchOptions,
): Promise<RunningVm> {
  const { uid, gid } = await vmmIds(options);
  // The VMM makes its QMP socket in the runtime directory and connects to the agent socket.
  if (process.getuid?.() === 0) await chown(runtime.dir, uid, gid);
  const server = await listen(runtime.agentSocket, uid, gid);
  const controlServer = options.control
    ? await listen(runtime.controlSocket, uid, gid).catch((error: unknown) => {
        server.close();
        throw error;
      })
    : undefined;
  const stderr = new BoundedTail(8 * 1024);
  const guestConsole = new BoundedTail(8 * 1024);
  const qemu = qemuBinary();
  const { child, pid, seccomp } = await spawnJailedVmm({
    // A QEMU given by absolute path outside /usr (IRONCLAW_QEMU) is bound into the jail too.
    files:
      qemu.startsWith('/') && !qemu.startsWith('/usr/') ? [...options.files, qemu] : options.files,
    runtimeDir: runtime.dir,
    kvm: options.kvm,
    command: [qemu, ...args],
    uid,
    gid,
    ...(options.inherit === undefined ? {} : { inherit: options.inherit }),
    ...(options.maxFileBytes === undefined ? {} : { maxFileBytes: options.maxFileBytes }),
    ...(options.seccomp === undefined ? {} : { seccomp: options.seccomp }),
  });
  const logs = [
    keepOutput(child.stdout, guestConsole, runtime.consoleLog),
    keepOutput(child.stderr, stderr, runtime.qemuLog),
  ];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, killed) => {
      for (const log of logs) log?.end();
      resolve({ code, signal: killed });
    });
  });
  const tail = (): string =>
    [
      `QEMU stderr: ${stderr.text() || '(empty)'}`,
      `guest console: ${guestConsole.text() || '(empty)'}`,
    ].join('\n');
  // QEMU is in a session of its own (bwrap --new-session): kill it, then its jail.
  const kill = vmmKiller(
    child,
    () => Promise.race([pid, Promise.resolve(undefined)]).catch(() => undefined),
    exited,
  );
  // The servers stay open for QEMU's reconnections until QEMU has exited.
  void exited.then(() => {
    server.close();
    controlServer?.close();
  });
  const nextAgent = connectionQueue(server, child, exited);
  const nextControl = controlServer && connectionQueue(controlServer, child, exited);
  try {
    const [agent, control] = await Promise.all([
      nextAgent(options.signal),
      nextControl?.(options.signal),
    ]);
    return { child, pid: await pid, seccomp, agent, control, exited, tail, nextAgent, kill };
  } catch (error) {
    await kill();
    const reason =
      error instanceof IronClawError
        ? error.message
        : `failed to start: ${error instanceof Error ? error.message : String(error)}`;
    throw new IronClawError('SANDBOX_START_FAILED', `QEMU ${reason}\n${tail()}`, { cause: error });
  }
}

/** Listens on a VM's socket, which the VMM (as `uid`) connects to. */
async function listen(path: string, uid: number, gid: number): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, resolve);
  });
  if (process.getuid?.() === 0) await chown(path, uid, gid);
  return server;
}

/**
 * Hands out QEMU's connections to the agent socket in order: one that arrives while nobody
 * waits is kept for the next caller, so a reconnection is never lost.
 */
function connectionQueue(
  server: Server,
  child: ChildProcess,
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>,
): (signal: AbortSignal) => Promise<Socket> {
  const ready: Socket[] = [];
  const waiting: ((socket: Socket) => void)[] = [];
  server.on('connection', (socket) => {
    const waiter = waiting.shift();
    if (waiter) waiter(socket);
    else ready.push(socket);
  });
  let failure: Error | undefined;
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (error) => reject((failure ??= error)));
    void exited.then((outcome) =>
      reject(
        (failure ??= new IronClawError(
          'SANDBOX_START_FAILED',
          `exited during start-up (${outcome.signal ?? `exit code ${outcome.code}`})${outcome.code === 128 + 31 ? ": killed by SIGSYS, a call IronClaw's VMM filter refuses (seccomp 'none' turns it off, to diagnose)" : ''}`,
        )),
      ),
    );
  });
  failed.catch(() => undefined);
  return (signal) => {
    const queued = ready.shift();
    if (queued) return Promise.resolve(queued);
    signal.throwIfAborted();
    let waiter: ((socket: Socket) => void) | undefined;
    const next = new Promise<Socket>((resolve) => {
      waiter = resolve;
      waiting.push(resolve);
    });
    const aborted = new Promise<never>((_, reject) =>
      signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }),
    );
    return Promise.race([next, failed, aborted]).finally(() => {
      const index = waiting.indexOf(waiter ?? (() => undefined));
      if (index >= 0) waiting.splice(index, 1);
    });
  };
}
