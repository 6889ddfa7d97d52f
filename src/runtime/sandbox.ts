import { IronClawError } from '../core/errors.js';
import type { IsolationReport } from '../core/isolation.js';
import { resolveSandboxPath } from '../core/sandbox-path.js';
import {
  EmptyResultSchema,
  type ExecResult,
  ExecResultSchema,
  type FileInfo,
  FileInfoSchema,
  ListResultSchema,
  OutputEventSchema,
  type PingResult,
  PingResultSchema,
  ReadFileResultSchema,
  WriteFileResultSchema,
} from '../protocol/guest-api.js';
import type { RpcClient } from '../protocol/rpc-client.js';
import { audit, auditSeccompEnd, monotonicUs } from '../audit/audit-log.js';
import type { BoxProcess } from '../host/box-process.js';
import type { ApplyReport } from '../host/workspace-apply.js';
import type { WorkspaceDiff } from '../core/workspace-diff.js';
import type { BoxWorkspace } from './box-workspace.js';

export interface ExecOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Bytes for stdin, or a stream of them (kept open until it ends). */
  stdin?: string | Uint8Array | AsyncIterable<Uint8Array>;
  /** Wall-clock limit; on expiry the command's whole process group is killed. */
  timeoutMs?: number;
  /** Cap on stdout+stderr bytes; the rest is dropped behind an explicit marker. */
  maxOutputBytes?: number;
  signal?: AbortSignal;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  /**
   * Keep the output for the result (the default). A caller that streams it through onStdout and
   * onStderr, with no cap, passes false: the result's stdout and stderr are then empty, and a
   * long-lived command's output is not held in memory for nothing.
   */
  collect?: boolean;
}

export interface ExecOutput extends ExecResult {
  stdout: Buffer;
  stderr: Buffer;
}

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
  #workspace: BoxWorkspace | undefined;

  /** @internal Use createSandbox(). */
  constructor(id: string, box: BoxProcess, client: RpcClient) {
    this.#id = id;
    this.#box = box;
    this.#client = client;
    this.isolation = box.isolation;
  }

  get id(): string {
    return this.#id;
  }

  /** @internal A pool hands out a ready sandbox under the id its taker asked for. */
  relabel(id: string): void {
    audit({ event: 'sandbox-renamed', sandbox: id, from: this.#id });
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
    return this.#client.request('ping', {}, PingResultSchema, {
      signal: this.#signal(options.signal),
    });
  }

  /** Runs argv directly, or a string through /bin/sh -c. Output streams to the callbacks. */
  async exec(command: readonly string[] | string, options: ExecOptions = {}): Promise<ExecOutput> {
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const streaming = typeof options.stdin === 'object' && Symbol.asyncIterator in options.stdin;
    const stdinBytes =
      options.stdin === undefined || streaming
        ? undefined
        : Buffer.from(options.stdin as string | Uint8Array);
    // A stdin stream that fails fails the exec (and kills the command) rather than being lost.
    const stdinFailed = new AbortController();
    const signal = options.signal
      ? AbortSignal.any([options.signal, stdinFailed.signal])
      : stdinFailed.signal;
    const call = this.#client.call(
      'exec',
      {
        ...(typeof command === 'string' ? { shell: command } : { argv: command }),
        ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
        ...(options.env === undefined ? {} : { env: options.env }),
        ...(stdinBytes === undefined ? {} : { stdin: stdinBytes.toString('base64') }),
        ...(streaming ? { stdinOpen: true } : {}),
        ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
        ...(options.maxOutputBytes === undefined ? {} : { maxOutputBytes: options.maxOutputBytes }),
      },
      ExecResultSchema,
      {
        signal: this.#signal(signal),
        onEvent: (event, data) => {
          const parsed = OutputEventSchema.safeParse(data);
          if (!parsed.success || (event !== 'stdout' && event !== 'stderr')) return;
          const chunk = Buffer.from(parsed.data.data, 'base64');
          if (options.collect !== false) (event === 'stdout' ? stdout : stderr).push(chunk);
          (event === 'stdout' ? options.onStdout : options.onStderr)?.(chunk);
        },
      },
    );
    if (streaming) {
      this.#pump(options.stdin as AsyncIterable<Uint8Array>, call).catch((error: unknown) => {
        const reason = error instanceof Error ? error.message : String(error);
        stdinFailed.abort(
          new IronClawError('EXEC_FAILED', `reading the stdin given to exec failed: ${reason}`, {
            cause: error,
          }),
        );
      });
    }
    const started = monotonicUs();
    const result = await call.result;
    auditSeccompEnd({
      sandbox: this.#id,
      isolation: this.isolation,
      command,
      exit: result,
      startedUs: started,
    });
    return { ...result, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr) };
  }

  async writeFile(
    path: string,
    data: string | Uint8Array,
    options: CallOptions & { mode?: number } = {},
  ): Promise<void> {
    await this.#client.request(
      'write_file',
      {
        path: checkPath(path),
        data: Buffer.from(data).toString('base64'),
        ...(options.mode === undefined ? {} : { mode: options.mode }),
      },
      WriteFileResultSchema,
      { signal: this.#signal(options.signal) },
    );
  }

  /** Reads a whole file; a file past `maxBytes` (default 8 MiB) is an error, never a silent cut. */
  async readFile(path: string, options: CallOptions & { maxBytes?: number } = {}): Promise<Buffer> {
    const result = await this.#client.request(
      'read_file',
      {
        path: checkPath(path),
        ...(options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes }),
      },
      ReadFileResultSchema,
      { signal: this.#signal(options.signal) },
    );
    if (result.truncated) {
      throw new IronClawError(
        'FILE_ERROR',
        `${path} has ${result.size} bytes, more than one read returns; read it in an exec (for example with split or tar) instead`,
      );
    }
    return Buffer.from(result.data, 'base64');
  }

  async list(path = '/workspace', options: CallOptions = {}): Promise<FileInfo[]> {
    const result = await this.#client.request('list', { path: checkPath(path) }, ListResultSchema, {
      signal: this.#signal(options.signal),
    });
    return result.entries;
  }

  async stat(path: string, options: CallOptions = {}): Promise<FileInfo> {
    return this.#client.request('stat', { path: checkPath(path) }, FileInfoSchema, {
      signal: this.#signal(options.signal),
    });
  }

  async remove(path: string, options: CallOptions & { recursive?: boolean } = {}): Promise<void> {
    await this.#client.request(
      'remove',
      { path: checkPath(path), recursive: options.recursive ?? false },
      EmptyResultSchema,
      {
        signal: this.#signal(options.signal),
      },
    );
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
      audit({ event: 'sandbox-destroyed', sandbox: this.#id, driver: this.isolation.driver });
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

  async #pump(
    stdin: AsyncIterable<Uint8Array>,
    call: { input(data: Uint8Array | undefined, eof?: boolean): boolean },
  ): Promise<void> {
    for await (const chunk of stdin) {
      if (!call.input(chunk)) await this.#client.drained();
    }
    call.input(undefined, true);
  }
}

function checkPath(path: string): string {
  const resolved = resolveSandboxPath(path);
  if (!resolved.ok) throw new IronClawError(resolved.code, resolved.message);
  return path;
}
