import { IronClawError } from '../../core/errors.js';

/**
 * The Firecracker API requests IronClaw sends, as typed structures turned into the exact bodies
 * of the v1.16.1 API (shared/specs/firecracker-swagger.yaml; notes/vmm.md §1.3, §1.4). Each
 * builder returns the method, path and body of one request; test/firecracker-contract.test.ts
 * checks every body they can produce against the spec's definition for that path and method.
 * The builders refuse values Firecracker would refuse, so a mistake shows up here, named, rather
 * than as a 400 from the VMM mid-start.
 */

export type ApiMethod = 'PUT' | 'PATCH';

/** One API call: sent as JSON, answered by 204 with no body when it worked. */
export interface ApiRequest {
  readonly method: ApiMethod;
  readonly path: string;
  readonly body: Readonly<Record<string, unknown>>;
}

export type LogLevel = 'Error' | 'Warning' | 'Info' | 'Debug' | 'Trace' | 'Off';

export interface LoggerConfig {
  /** A file or named pipe, as the (jailed) VMM sees it. */
  logPath: string;
  level: LogLevel;
  showLevel?: boolean;
  showLogOrigin?: boolean;
  module?: string;
}

export interface MachineConfig {
  /** 1 to 32; with SMT, 1 or even. */
  vcpuCount: number;
  memSizeMib: number;
  smt?: boolean;
  /** Needed for diff snapshots tracked by KVM. */
  trackDirtyPages?: boolean;
  hugePages?: 'None' | '2M';
}

export interface BootSourceConfig {
  /** An uncompressed ELF vmlinux on x86-64. */
  kernelImagePath: string;
  initrdPath?: string;
  /** Replaces Firecracker's default command line entirely. */
  bootArgs?: string;
}

export interface DriveConfig {
  /** Letters, digits and '_', at most 64: the drive's name in the API path too. */
  driveId: string;
  pathOnHost: string;
  isRootDevice: boolean;
  isReadOnly: boolean;
  cacheType?: 'Unsafe' | 'Writeback';
  ioEngine?: 'Sync' | 'Async';
}

export interface VsockConfig {
  /** At least 3 (0-2 are reserved: hypervisor, local, host). */
  guestCid: number;
  /** Where Firecracker listens for host-initiated connections (hybrid vsock). */
  udsPath: string;
}

export type InstanceAction = 'InstanceStart' | 'SendCtrlAltDel' | 'FlushMetrics';

export interface SnapshotCreateConfig {
  snapshotPath: string;
  memFilePath: string;
  snapshotType?: 'Full' | 'Diff';
}

export interface SnapshotLoadConfig {
  snapshotPath: string;
  /** Guest memory: a file mapped MAP_PRIVATE, or a userfaultfd handler's socket. */
  memBackend: { backendType: 'File' | 'Uffd'; backendPath: string };
  trackDirtyPages?: boolean;
  resumeVm?: boolean;
  /** A new path for the vsock device's socket (each clone gets its own). */
  vsockUdsPath?: string;
  clockRealtime?: boolean;
}

/** Firecracker's id rule for drives and interfaces (vmm_config: alphanumeric and '_'). */
const DEVICE_ID = /^[A-Za-z0-9_]{1,64}$/;

export function putLogger(config: LoggerConfig): ApiRequest {
  return put('/logger', {
    log_path: nonEmpty(config.logPath, 'log path'),
    level: config.level,
    ...optional('show_level', config.showLevel),
    ...optional('show_log_origin', config.showLogOrigin),
    ...optional('module', config.module),
  });
}

export function putMetrics(metricsPath: string): ApiRequest {
  return put('/metrics', { metrics_path: nonEmpty(metricsPath, 'metrics path') });
}

export function putMachineConfig(config: MachineConfig): ApiRequest {
  const { vcpuCount, memSizeMib } = config;
  if (!Number.isInteger(vcpuCount) || vcpuCount < 1 || vcpuCount > 32)
    throw invalid(`vcpu_count must be an integer from 1 to 32, not ${vcpuCount}`);
  if (config.smt && vcpuCount !== 1 && vcpuCount % 2 !== 0)
    throw invalid(`with SMT, vcpu_count must be 1 or even, not ${vcpuCount}`);
  if (!Number.isInteger(memSizeMib) || memSizeMib < 1)
    throw invalid(`mem_size_mib must be a positive integer, not ${memSizeMib}`);
  if (config.hugePages === '2M' && memSizeMib % 2 !== 0)
    throw invalid(`with 2M huge pages, mem_size_mib must be even, not ${memSizeMib}`);
  return put('/machine-config', {
    vcpu_count: vcpuCount,
    mem_size_mib: memSizeMib,
    ...optional('smt', config.smt),
    ...optional('track_dirty_pages', config.trackDirtyPages),
    ...optional('huge_pages', config.hugePages),
  });
}

export function putBootSource(config: BootSourceConfig): ApiRequest {
  return put('/boot-source', {
    kernel_image_path: nonEmpty(config.kernelImagePath, 'kernel image path'),
    ...optional('initrd_path', config.initrdPath),
    ...optional('boot_args', config.bootArgs),
  });
}

export function putDrive(config: DriveConfig): ApiRequest {
  if (!DEVICE_ID.test(config.driveId))
    throw invalid(`drive id ${JSON.stringify(config.driveId)}: use 1-64 letters, digits or '_'`);
  return put(`/drives/${config.driveId}`, {
    drive_id: config.driveId,
    path_on_host: nonEmpty(config.pathOnHost, 'drive path'),
    is_root_device: config.isRootDevice,
    is_read_only: config.isReadOnly,
    ...optional('cache_type', config.cacheType),
    ...optional('io_engine', config.ioEngine),
  });
}

export function putVsock(config: VsockConfig): ApiRequest {
  if (!Number.isInteger(config.guestCid) || config.guestCid < 3 || config.guestCid > 0xffffffff)
    throw invalid(`guest_cid must be an integer of at least 3, not ${config.guestCid}`);
  return put('/vsock', {
    guest_cid: config.guestCid,
    uds_path: nonEmpty(config.udsPath, 'vsock socket path'),
  });
}

export function putAction(action: InstanceAction): ApiRequest {
  return put('/actions', { action_type: action });
}

/** Pauses or resumes the vCPUs (a snapshot is taken while paused). */
export function patchVmState(state: 'Paused' | 'Resumed'): ApiRequest {
  return { method: 'PATCH', path: '/vm', body: { state } };
}

export function putSnapshotCreate(config: SnapshotCreateConfig): ApiRequest {
  return put('/snapshot/create', {
    snapshot_path: nonEmpty(config.snapshotPath, 'snapshot path'),
    mem_file_path: nonEmpty(config.memFilePath, 'memory file path'),
    ...optional('snapshot_type', config.snapshotType),
  });
}

/** Loads a snapshot into a fresh Firecracker (nothing but the logger and metrics configured). */
export function putSnapshotLoad(config: SnapshotLoadConfig): ApiRequest {
  return put('/snapshot/load', {
    snapshot_path: nonEmpty(config.snapshotPath, 'snapshot path'),
    mem_backend: {
      backend_type: config.memBackend.backendType,
      backend_path: nonEmpty(config.memBackend.backendPath, 'memory backend path'),
    },
    ...optional('track_dirty_pages', config.trackDirtyPages),
    ...optional('resume_vm', config.resumeVm),
    ...(config.vsockUdsPath === undefined
      ? {}
      : { vsock_override: { uds_path: nonEmpty(config.vsockUdsPath, 'vsock socket path') } }),
    ...optional('clock_realtime', config.clockRealtime),
  });
}

function put(path: string, body: Record<string, unknown>): ApiRequest {
  return { method: 'PUT', path, body };
}

/** `{ [name]: value }`, or nothing when the value is not given (exactOptionalPropertyTypes). */
function optional<T>(name: string, value: T | undefined): Record<string, T> {
  return value === undefined ? {} : { [name]: value };
}

function nonEmpty(value: string, what: string): string {
  if (value === '' || value.includes('\0')) throw invalid(`${what} ${JSON.stringify(value)}`);
  return value;
}

function invalid(message: string): IronClawError {
  return new IronClawError('INVALID_ARGUMENT', `Firecracker API request: ${message}`);
}
