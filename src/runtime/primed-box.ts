import { posix } from 'node:path';
import { finished } from 'node:stream/promises';
import { audit, audited } from '../audit/audit-trail.js';
import { IronClawError } from '../core/errors.js';
import { describeExit } from '../core/exit-status.js';
import { newId } from '../core/ids.js';
import type { DriverName, IsolationReport } from '../core/isolation.js';
import type { Limits } from '../core/limits.js';
import { FILE_ROOTS } from '../core/sandbox-path.js';
import { OutputCap } from '../core/output-cap.js';
import { driverFor } from '../drivers/index.js';
import type { BoxProcess } from '../host/box-process.js';
import { monotonicUs } from '../host/kernel-seccomp-log.js';
import type { BoxUids } from '../core/box-uids.js';
import { oneShotOutcome } from './one-shot-outcome.js';
import { boxBudget } from './box-budget.js';
import type { RunOnceResult } from './run-once-options.js';
import { recordSandboxStart } from './sandbox-ledger.js';

/*
 * A box started before its command is known: the one-shot payload box (no guest agent), whose
 * command payload is a small POSIX sh runner that waits on its stdin for a shell command line,
 * then execs `/bin/sh -c LINE` with the rest of stdin as the command's own. The box is built by
 * the same code, with the same limits, uid, cgroup and default memory limit as a sandbox the
 * MCP server would make for the same request, so an MCP `run` taken this way gets the isolation
 * of one through a sandbox and an exec (test/mcp-run-fast.test.ts compares the two).
 */

/**
 * Reads what the host sends on stdin, then execs the command line as an exec's `shell` is run.
 * A text is a line count, then that many lines (IFS= read -r: bytes as they are, no backslash
 * processing; dash reads a pipe one byte at a time, and `head -c` reads no more than it is
 * asked for, so nothing past the header is taken from the command's stdin). In order:
 *   files: a count, then per file its absolute path (one line) and its size, then its bytes;
 *   env: a count, then per variable its name (one line) and its value (a text);
 *   the command line (a text).
 * Files are written before any variable is set; variables reach the command through env(1),
 * so none of them (PATH, IFS, or a name the runner uses) changes how the runner itself works.
 * A malformed header exits 125 (the host never sends one).
 */
const RUNNER = [
  "num() { IFS= read -r n || exit 125; case $n in ''|*[!0-9]*) exit 125;; esac; }",
  'text() { num; IFS= read -r v || exit 125; while [ "$n" -gt 1 ]; do IFS= read -r line || exit 125; v="$v',
  '$line"; n=$((n - 1)); done; }',
  'num; files=$n',
  'while [ "$files" -gt 0 ]; do',
  '  IFS= read -r path || exit 125; num',
  '  mkdir -p -- "${path%/*}" && head -c "$n" > "$path" || exit 125',
  '  files=$((files - 1))',
  'done',
  'num; vars=$n; set --',
  'while [ "$vars" -gt 0 ]; do',
  '  IFS= read -r name || exit 125; text; set -- "$@" "$name=$v"; vars=$((vars - 1))',
  'done',
  'text; script=$v',
  'unset n line v path files name vars',
  'if [ $# -eq 0 ]; then exec /bin/sh -c "$script"; fi',
  'exec env "$@" /bin/sh -c "$script"',
].join('\n');

/** A file a primed box writes before its command: an absolute path (see primedFilesFit). */
export interface PrimedFile {
  path: string;
  data: Uint8Array;
}

export interface PrimedBoxOptions {
  driver: DriverName;
  /** Limits asked for; a memory limit defaults to `defaultMemoryBytes`, as createSandbox's does. */
  limits?: Partial<Limits> | undefined;
  defaultMemoryBytes?: number | undefined;
  rootBoxUid?: number | undefined;
  /** As root: a host uid of the box's own from this range, or false (see SandboxOptions.boxUids). */
  boxUids?: BoxUids | undefined;
  signal?: AbortSignal | undefined;
}

export interface PrimedRun {
  /** A shell command line, run by /bin/sh -c in /workspace. */
  command: string;
  stdin?: string | undefined;
  /** Written before the command runs, in order, as the box's own uid (see primedFilesFit). */
  files?: readonly PrimedFile[] | undefined;
  /** Variables for the command, over the box's own (names as an exec's env takes them). */
  env?: Readonly<Record<string, string>> | undefined;
  /** Wall-clock limit from the moment the command is given; then every process of the box dies. */
  timeoutMs: number;
  maxOutputBytes: number;
  signal?: AbortSignal | undefined;
  /** Each chunk of stdout or stderr as it comes (progress), besides being collected. */
  onOutput?: ((chunk: Buffer) => void) | undefined;
}

/** Whether `command` can be given to a primed box: a line count and lines carry it whole. */
export function primedCommandFits(command: string): boolean {
  // An argument cannot hold a NUL byte: an exec refuses such a command, so it goes that way.
  return !command.includes('\0');
}

/**
 * Whether these absolute paths can be written by the runner as the guest agent's write_file
 * would write them, one after another: each under /workspace or /tmp but not the root itself,
 * on one line, and none a directory on the way to another (which write_file refuses, and the
 * caller should see refused the same way, so such a call goes through a sandbox).
 */
export function primedFilesFit(paths: readonly string[]): boolean {
  const files = new Set(paths);
  return paths.every((path) => {
    if (/[\n\0]/.test(path) || path.endsWith('/') || posix.normalize(path) !== path) return false;
    if (!FILE_ROOTS.some((root) => path.startsWith(`${root}/`))) return false;
    for (let at = path.indexOf('/', 1); at !== -1; at = path.indexOf('/', at + 1))
      if (files.has(path.slice(0, at))) return false;
    return true;
  });
}

/** Names as the MCP schema takes them: nothing that could end a header line. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function text(value: string): string {
  return `${value.split('\n').length}\n${value}\n`;
}

/** What the runner reads before the command's own stdin. */
function primedHeader(run: PrimedRun): (string | Uint8Array)[] {
  const files = run.files ?? [];
  const env = Object.entries(run.env ?? {});
  // The MCP layer checks both; a caller that did not must not get a garbled header.
  if (
    !primedFilesFit(files.map((file) => file.path)) ||
    !env.every(([name]) => ENV_NAME.test(name))
  )
    throw new IronClawError(
      'INVALID_ARGUMENT',
      'a primed box takes absolute file paths under /workspace or /tmp and variable names of letters, digits and _; run this through a sandbox',
    );
  const parts: (string | Uint8Array)[] = [`${files.length}\n`];
  for (const file of files) parts.push(`${file.path}\n${file.data.length}\n`, file.data);
  parts.push(`${env.length}\n`);
  for (const [name, value] of env) parts.push(`${name}\n${text(value)}`);
  parts.push(text(run.command));
  return parts;
}

/** One box, started and waiting for its command; it runs exactly one, then is gone. */
export class PrimedBox {
  readonly #box: BoxProcess;
  readonly #end: () => Promise<void>;
  #used = false;
  #destroying: Promise<void> | undefined;
  #exitedEarly = false;

  private constructor(box: BoxProcess, end: () => Promise<void>) {
    this.#box = box;
    this.#end = end;
    void box.exited.then(() => {
      if (!this.#used) this.#exitedEarly = true;
    });
  }

  /** Starts a box whose payload waits for a command; audited as a sandbox is. */
  static async start(options: PrimedBoxOptions): Promise<PrimedBox> {
    const id = newId();
    return audited(
      { kind: 'sandbox-create', sandbox: id, data: { driver: options.driver, oneShot: true } },
      async () => {
        const { box, end } = await startPrimed(id, options);
        return new PrimedBox(box, end);
      },
      { describe: (box) => ({ driver: box.isolation.driver, hostUid: box.isolation.hostUid }) },
    );
  }

  get id(): string {
    return this.#box.id;
  }

  get isolation(): IsolationReport {
    return this.#box.isolation;
  }

  /** Started, waiting, and not yet given a command. */
  get alive(): boolean {
    return !this.#used && !this.#exitedEarly && this.#destroying === undefined;
  }

  /** Runs the command and destroys the box. */
  async run(run: PrimedRun): Promise<RunOnceResult> {
    if (!this.alive)
      throw new IronClawError('SANDBOX_CLOSED', `box ${this.id} has already run or ended`);
    this.#used = true;
    try {
      return await this.#run(run);
    } finally {
      await this.destroy();
    }
  }

  /** Kills every process of the box, removes its cgroup and returns its uid. Idempotent. */
  destroy(): Promise<void> {
    this.#destroying ??= this.#end();
    return this.#destroying;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.destroy();
  }

  async #run(run: PrimedRun): Promise<RunOnceResult> {
    const box = this.#box;
    const { input, output } = box;
    if (!input || !output)
      throw new IronClawError('INTERNAL', `box ${this.id} has no stdin or output pipes`);
    const started = performance.now();
    const startedUs = monotonicUs();
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    // Kept up to the cap; the rest is still read (the command never blocks on a full pipe).
    const cap = new OutputCap(run.maxOutputBytes);
    for (const [stream, kept] of [
      [output.stdout, stdout],
      [output.stderr, stderr],
    ] as const) {
      stream.on('data', (chunk: Buffer) => {
        run.onOutput?.(chunk);
        const part = cap.take(chunk);
        if (part.length > 0) kept.push(part);
        const marker = cap.takeMarker();
        if (marker) kept.push(Buffer.from(marker));
      });
    }
    const drained = Promise.all([finished(output.stdout), finished(output.stderr)]).catch(
      () => undefined,
    );
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      void this.destroy();
    }, run.timeoutMs);
    const cancel = (): void => void this.destroy();
    run.signal?.addEventListener('abort', cancel, { once: true });
    // A command that exits without reading its stdin closes the pipe: not the caller's fault.
    input.on('error', () => undefined);
    for (const part of primedHeader(run)) input.write(part);
    input.end(run.stdin ?? '');
    try {
      const [exit] = await Promise.all([box.exited, drained]);
      run.signal?.throwIfAborted();
      return await oneShotOutcome(box, {
        exit,
        timedOut,
        command: run.command,
        startedUs,
        started,
        cap,
        stdout,
        stderr,
      });
    } finally {
      clearTimeout(timer);
      run.signal?.removeEventListener('abort', cancel);
    }
  }
}

async function startPrimed(
  id: string,
  options: PrimedBoxOptions,
): Promise<{ box: BoxProcess; end: () => Promise<void> }> {
  const driver = driverFor(options.driver);
  if (!driver.capabilities.pipedStdin)
    throw new IronClawError(
      'DRIVER_UNAVAILABLE',
      `the ${driver.name} driver cannot start a box ahead of its command; run it through a sandbox and an exec`,
    );
  const { cgroups, limits, uidLease: lease } = await boxBudget(driver, 'command', options);
  let box: BoxProcess;
  try {
    box = await driver.spawn({
      id,
      limits,
      payload: {
        kind: 'command',
        argv: ['/bin/sh', '-c', RUNNER, '/bin/sh'],
        stdio: 'pipe',
        stdin: 'pipe',
      },
      cgroups,
      rootBoxUid: lease.uid,
    });
  } catch (error) {
    await lease.release();
    throw error;
  }
  let forget = (): Promise<void> => Promise.resolve();
  const end = async (): Promise<void> => {
    await box.destroy();
    await Promise.allSettled([forget(), lease.release()]);
    audit({ kind: 'sandbox-destroyed', sandbox: id, data: { driver: box.isolation.driver } });
  };
  try {
    // A box that neither starts nor fails (a wedged host) must not hold the caller forever.
    const timeout = AbortSignal.timeout(driver.capabilities.startTimeoutMs);
    const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
    const gaveUp = new Promise<never>((_, reject) => {
      const fail = (): void =>
        reject(
          new IronClawError(
            'SANDBOX_START_FAILED',
            options.signal?.aborted
              ? `sandbox ${id} was still starting when its call was cancelled`
              : `sandbox ${id} did not start within ${driver.capabilities.startTimeoutMs} ms; the host may be overloaded, run \`ironclaw doctor\``,
          ),
        );
      if (signal.aborted) fail();
      else signal.addEventListener('abort', fail, { once: true });
    });
    gaveUp.catch(() => undefined);
    if (!(await Promise.race([box.started, gaveUp]))) {
      const exit = await box.exited;
      throw new IronClawError(
        'SANDBOX_START_FAILED',
        `the sandbox did not start (${describeExit(exit)})${box.stderrTail() ? `: ${box.stderrTail()}` : ''}`,
      );
    }
    forget = await recordSandboxStart(id, box.isolation.driver);
  } catch (error) {
    await end();
    throw error;
  }
  return { box, end };
}
