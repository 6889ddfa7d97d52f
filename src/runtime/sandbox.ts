import { IronClawError } from '../core/errors.js';
import type { BoxStats } from '../core/cgroup-v2-stats.js';
import type { Socket } from 'node:net';
import { pipeToPort } from './port-forwards.js';
import type { IsolationReport } from '../core/isolation.js';
import {
  EmptyResultSchema,
  ExecResultSchema,
  type FileInfo,
  FileInfoSchema,
  ListResultSchema,
  OutputEventSchema,
  type PingResult,
  GuestStatsResultSchema,
  PingResultSchema,
  ReadFileResultSchema,
  WriteFileResultSchema,
} from '../protocol/guest-api.js';
import { driverFor } from '../drivers/index.js';
import type { RpcClient } from '../protocol/rpc-client.js';
import { audit } from '../audit/audit-trail.js';
import { auditSeccompEnd } from '../audit/seccomp-audit.js';
import { monotonicUs } from '../host/kernel-seccomp-log.js';
import type { BoxProcess } from '../host/box-process.js';
import {
  displayPath,
  FILE_CHUNK_BYTES,
  type FileChunk,
  readInChunks,
  type SandboxPath,
  wirePath,
  writeInChunks,
} from './file-chunks.js';

export type { FileChunk, SandboxPath } from './file-chunks.js';
import type { ApplyReport } from '../host/workspace-apply.js';
import type { WorkspaceDiff } from '../core/workspace-diff.js';
import type { BoxWorkspace } from './box-workspace.js';
import { explainClosed } from './box-end.js';
import { OomAttribution } from './oom-attribution.js';
import {
  type ExecOptions,
  type ExecOutput,
  execParams,
  pumpResizes,
  pumpStdin,
} from './exec-options.js';

export type { ExecOptions, ExecOutput } from './exec-options.js';

interface CallOptions {
  signal?: AbortSignal | undefined;
}

/** A live sandbox: a box with the guest agent, reached over one framed channel. */
export class Sandbox {
  #id: string;
  readonly isolation: IsolationReport;
  readonly createdAt = new Date();
  readonly #box: BoxProcess;
  readonly #client: RpcClient;
  #destroying: Promise<void> | undefined;
  readonly #oom: OomAttribution;
  #workspace: BoxWorkspace | undefined;

  /** @internal Use createSandbox(). */
  constructor(id: string, box: BoxProcess, client: RpcClient) {
    this.#id = id;
    this.#box = box;
    this.#oom = new OomAttribution(box);
    this.#client = client;
    this.isolation = box.isolation;
  }

  get id(): string {
    return this.#id;
  }

  /** @internal A pool hands out a ready sandbox under the id its taker asked for. */
  relabel(id: string): void {
    audit({ kind: 'sandbox-renamed', sandbox: id, data: { from: this.#id } });
    this.#id = id;
  }

  /** True while the box runs and its channel is open. */
  get alive(): boolean {
    return (
      !this.#destroying &&
      !this.#client.isClosed &&
      this.#box.process.exitCode === null &&
      this.#box.process.signalCode === null
    );
  }

  get destroyed(): boolean {
    return this.#destroying !== undefined;
  }

  /** Host pid of the box's pid 1, for inspection and tests. */
  get boxPid(): number {
    return this.#box.boxPid;
  }

  async ping(options: CallOptions = {}): Promise<PingResult> {
    return this.#explained(
      this.#client.request('ping', {}, PingResultSchema, { signal: this.#signal(options.signal) }),
    );
  }

  /** Runs argv directly, or a string through /bin/sh -c. Output streams to the callbacks. */
  async exec(command: readonly string[] | string, options: ExecOptions = {}): Promise<ExecOutput> {
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    if (options.tty) driverFor(this.isolation.driver, { pty: true });
    const { params, streaming, resizes } = execParams(command, options);
    // A stdin stream that fails fails the exec (and kills the command) rather than being lost.
    const stdinFailed = new AbortController();
    const signal = options.signal
      ? AbortSignal.any([options.signal, stdinFailed.signal])
      : stdinFailed.signal;
    const call = this.#client.call('exec', params, ExecResultSchema, {
      signal: this.#signal(signal),
      onEvent: (event, data) => {
        const parsed = OutputEventSchema.safeParse(data);
        if (!parsed.success || (event !== 'stdout' && event !== 'stderr')) return;
        const chunk = Buffer.from(parsed.data.data, 'base64');
        if (options.collect !== false) (event === 'stdout' ? stdout : stderr).push(chunk);
        const wait = (event === 'stdout' ? options.onStdout : options.onStderr)?.(chunk);
        if (wait instanceof Promise) this.#client.pauseReading(wait);
      },
    });
    if (streaming) {
      pumpStdin(options.stdin as AsyncIterable<Uint8Array>, call, this.#client).catch(
        (error: unknown) => {
          const reason = error instanceof Error ? error.message : String(error);
          stdinFailed.abort(
            new IronClawError('EXEC_FAILED', `reading the stdin given to exec failed: ${reason}`, {
              cause: error,
            }),
          );
        },
      );
    }
    if (resizes) void pumpResizes(resizes, call, call.result, this.#client);
    const started = monotonicUs();
    const result = await this.#oom.mark(await this.#explained(call.result));
    auditSeccompEnd({
      sandbox: this.#id,
      isolation: this.isolation,
      command,
      exit: result,
      startedUs: started,
    });
    return { ...result, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr) };
  }

  /**
   * Writes a file of any size: bytes, text, or a stream of chunks (a host file's read stream,
   * say), sent in chunks that each fit a frame. The file is created or truncated, or, with
   * `offset`, written from there on without truncating. `mode` is set once all is written.
   */
  async writeFile(
    path: SandboxPath,
    data: string | Uint8Array | AsyncIterable<Uint8Array>,
    options: CallOptions & { mode?: number; offset?: number } = {},
  ): Promise<void> {
    const target = wirePath(path);
    const signal = this.#signal(options.signal);
    await writeInChunks(data, {
      ...(options.offset === undefined ? {} : { offset: options.offset }),
      ...(options.mode === undefined ? {} : { mode: options.mode }),
      write: (chunk, at, mode) =>
        this.#explained(
          this.#client.request(
            'write_file',
            {
              ...target,
              data: chunk.toString('base64'),
              ...(at === undefined ? {} : { offset: at }),
              ...(mode === undefined ? {} : { mode }),
            },
            WriteFileResultSchema,
            { signal },
          ),
        ),
    });
  }

  /**
   * Reads a whole file, in chunks, whatever its size. A file larger than `maxBytes` (when given)
   * is an error, never a silent cut; readFileStream reads one without holding it all.
   */
  async readFile(
    path: SandboxPath,
    options: CallOptions & { maxBytes?: number } = {},
  ): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of this.#chunks(path, options, (size) => {
      if (options.maxBytes !== undefined && size > options.maxBytes) {
        throw new IronClawError(
          'FILE_ERROR',
          `${displayPath(path)} has ${size} bytes, more than the ${options.maxBytes} asked for; read it with readFileStream instead`,
        );
      }
    })) {
      chunks.push(chunk);
      total += chunk.length;
    }
    return Buffer.concat(chunks, total);
  }

  /** A file as a stream of chunks, each read when the consumer asks for it. */
  readFileStream(path: SandboxPath, options: CallOptions = {}): AsyncGenerator<Buffer> {
    return this.#chunks(path, options);
  }

  /** One chunk of a file: up to `maxBytes` (at most 8 MiB) from `offset`. */
  async readFileChunk(
    path: SandboxPath,
    options: CallOptions & { offset?: number; maxBytes?: number } = {},
  ): Promise<FileChunk> {
    const result = await this.#explained(
      this.#client.request(
        'read_file',
        {
          ...wirePath(path),
          ...(options.offset === undefined ? {} : { offset: options.offset }),
          ...(options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes }),
        },
        ReadFileResultSchema,
        { signal: this.#signal(options.signal) },
      ),
    );
    return {
      data: Buffer.from(result.data, 'base64'),
      size: result.size,
      truncated: result.truncated,
    };
  }

  /** Lists a directory; `omitted` counts entries left out past the listing's cap (10,000). */
  async list(path: SandboxPath = '/workspace', options: CallOptions = {}): Promise<FileInfo[]> {
    return (await this.listDir(path, options)).entries;
  }

  async listDir(
    path: SandboxPath = '/workspace',
    options: CallOptions = {},
  ): Promise<{ entries: FileInfo[]; omitted?: number | undefined }> {
    return this.#explained(
      this.#client.request('list', wirePath(path), ListResultSchema, {
        signal: this.#signal(options.signal),
      }),
    );
  }

  async stat(path: SandboxPath, options: CallOptions = {}): Promise<FileInfo> {
    return this.#explained(
      this.#client.request('stat', wirePath(path), FileInfoSchema, {
        signal: this.#signal(options.signal),
      }),
    );
  }

  async remove(
    path: SandboxPath,
    options: CallOptions & { recursive?: boolean } = {},
  ): Promise<void> {
    await this.#explained(
      this.#client.request(
        'remove',
        { ...wirePath(path), recursive: options.recursive ?? false },
        EmptyResultSchema,
        { signal: this.#signal(options.signal) },
      ),
    );
  }

  /**
   * Memory, pids and CPU used against the limits: from the box's host cgroup (bwrap; gVisor, where
   * it holds the whole sandbox, sentry included), else from the guest kernel's own box cgroup
   * through the agent (a VM). undefined: nothing counts this box (a host without cgroups).
   */
  async stats(
    options: CallOptions = {},
  ): Promise<(BoxStats & { countedBy: 'host cgroup' | 'guest cgroup' }) | undefined> {
    const host = await this.#box.stats?.();
    if (host) return { ...host, countedBy: 'host cgroup' };
    const { stats } = await this.#explained(
      this.#client.request('stats', {}, GuestStatsResultSchema, {
        signal: this.#signal(options.signal),
      }),
    );
    if (!stats) return undefined;
    return {
      ...stats,
      memoryLimitBytes: stats.memoryLimitBytes,
      pidsLimit: stats.pidsLimit,
      countedBy: 'guest cgroup',
    };
  }

  /** Joins `socket` to 127.0.0.1:port in the box (a published port); resolves when it ends. */
  connectPort(port: number, socket: Socket): Promise<void> {
    return pipeToPort(this.#client, port, socket);
  }

  /** @internal createSandbox and the daemon attach the workspace they copied in. */
  attachWorkspace(workspace: BoxWorkspace): void {
    this.#workspace = workspace;
  }

  /** The host directory copied into /workspace at create, if any. */
  get workspaceDir(): string | undefined {
    return this.#workspace?.dir;
  }

  /** What changed in /workspace since the host directory was copied in (or last applied). */
  async workspaceDiff(options: CallOptions = {}): Promise<WorkspaceDiff> {
    return this.#needWorkspace().diff(this, this.#signal(options.signal));
  }

  /**
   * Writes the changes of `diff` (as shown to whoever confirms) into the host directory:
   * refused, with nothing written, unless `confirmed`, unless the box still has exactly that
   * diff, and when any path it touches changed on the host since copy-in.
   */
  async workspaceApply(
    diff: Pick<WorkspaceDiff, 'digest'>,
    options: CallOptions & { confirmed: boolean },
  ): Promise<ApplyReport> {
    return this.#needWorkspace().apply(
      this,
      { digest: diff.digest, confirmed: options.confirmed },
      this.#signal(options.signal),
    );
  }

  #needWorkspace(): BoxWorkspace {
    if (!this.#workspace)
      throw new IronClawError(
        'INVALID_ARGUMENT',
        `sandbox ${this.#id} was created without a workspace; create it with a workspace directory (--workspace DIR) to diff and apply`,
      );
    return this.#workspace;
  }

  /** Kills every process of the sandbox and removes its runtime files. Idempotent. */
  destroy(): Promise<void> {
    this.#destroying ??= (async () => {
      this.#client.close();
      await this.#box.destroy();
      audit({
        kind: 'sandbox-destroyed',
        sandbox: this.#id,
        data: { driver: this.isolation.driver },
      });
    })();
    return this.#destroying;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.destroy();
  }

  #signal(signal: AbortSignal | undefined): AbortSignal | undefined {
    if (this.#destroying)
      throw new IronClawError('SANDBOX_CLOSED', `sandbox ${this.id} has been destroyed`);
    return signal;
  }

  /** A call that failed because the box died says so (box-end.ts), unless we destroyed it. */
  async #explained<T>(call: Promise<T>): Promise<T> {
    try {
      return await call;
    } catch (error) {
      if (this.#destroying) throw error;
      return explainClosed(error, this.#box, this.id);
    }
  }

  #chunks(
    path: SandboxPath,
    options: CallOptions,
    onSize?: (size: number) => void,
  ): AsyncGenerator<Buffer> {
    return readInChunks(
      (offset) => this.readFileChunk(path, { ...options, offset, maxBytes: FILE_CHUNK_BYTES }),
      onSize,
    );
  }
}
