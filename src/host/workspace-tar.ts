import { spawn } from 'node:child_process';
import { open } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { IronClawError } from '../core/errors.js';
import { BoundedTail } from './bounded-tail.js';
import { packScan } from './workspace-pack.js';
import type { WorkspaceScan } from './workspace-scan.js';

/*
 * How a workspace gets into a one-shot box. The archive is IronClaw's own (workspace-pack.ts),
 * of a directory scanned with the workspace rules (workspace-scan.ts): the same exclusions
 * (.git, .env, .ironclawignore), caps and no-symlink-following as a long-lived sandbox's
 * copy-in, so both paths copy the same files. It is read as the calling user, so the box gets
 * what that user can read: bwrap streams it into the box, gVisor puts it in the bundle as a
 * file, the VM drivers feed it to an exec's stdin. The box unpacks it with its own tar.
 * (`sandbox cp` of a host path still runs the host's tar, below: it copies what it is asked to.)
 */

/** A workspace archive being written. */
export interface WorkspaceTar {
  /** Why the archive was cut short (its last 16 KiB): the words to quote on failure. */
  readonly complaints: BoundedTail;
  /**
   * Resolves when the whole archive is written; rejects with SANDBOX_START_FAILED saying why
   * otherwise. Marked handled, so a caller that reads only `complaints` leaves no unhandled
   * rejection behind.
   */
  readonly done: Promise<void>;
  /** Stops writing (nobody will read the rest of the archive). Idempotent. */
  stop(): void;
}

/**
 * Writes the archive of `workspace` into `into` (a socket, a pipe, a file) and ends it, so the
 * reader sees end-of-file when the archive is whole. Node holds one chunk at a time.
 */
export function packWorkspace(workspace: WorkspaceScan, into: Writable): WorkspaceTar {
  const complaints = new BoundedTail();
  const stopper = new AbortController();
  const done = pipeline(Readable.from(packScan(workspace, [])), into, {
    signal: stopper.signal,
  }).catch((error: unknown) => {
    const why = error instanceof Error ? error.message : String(error);
    complaints.push(Buffer.from(`${why}\n`));
    throw new IronClawError(
      'SANDBOX_START_FAILED',
      `cannot copy workspace ${workspace.dir} into the box: ${why}`,
      { cause: error },
    );
  });
  done.catch(() => undefined);
  return { complaints, done, stop: () => stopper.abort() };
}

/**
 * Packs one file or directory, named in the archive by its own name (`sandbox cp`), into a pipe
 * read from `stdout`, as packWorkspaceToPipe does. Symlinks go in as links, never followed.
 */
export function packPathToPipe(path: string): WorkspaceTar & { readonly stdout: Readable } {
  const { tar, stdout } = spawnTar(dirname(path), {
    member: basename(path),
    what: `cannot copy ${path} into the box`,
    code: 'FILE_ERROR',
  });
  if (!stdout) throw new IronClawError('INTERNAL', 'tar was started without a stdout pipe');
  return { ...tar, stdout };
}

/** Packs `workspace` into `file`, which must not exist yet (mode 0666 less the umask). */
export async function packWorkspaceToFile(workspace: WorkspaceScan, file: string): Promise<void> {
  const handle = await open(file, 'wx', 0o666);
  await packWorkspace(workspace, handle.createWriteStream()).done;
}

/**
 * tar's whole command line. Its environment is only PATH and the C locale: TAR_OPTIONS or
 * POSIXLY_CORRECT in the caller's environment would otherwise change what the box receives
 * (--dereference would copy in the targets of symlinks), and the quoted complaints stay English.
 */
function spawnTar(
  dir: string,
  options: { member: string; what: string; code: 'FILE_ERROR' },
): { tar: WorkspaceTar; stdout: Readable | null } {
  const complaints = new BoundedTail();
  const child = spawn('tar', ['-C', dir, '-cf', '-', '--', options.member], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' },
  });
  child.stderr?.on('data', (chunk: Buffer) => complaints.push(chunk));
  const done = new Promise<void>((resolve, reject) => {
    const fail = (what: string, cause?: Error): void =>
      reject(new IronClawError(options.code, `${options.what}: ${what}`, { cause }));
    child.once('error', (error) => {
      const what = `cannot run tar: ${error.message}`;
      complaints.push(Buffer.from(`${what}\n`));
      fail(what, error);
    });
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else
        fail(`tar ${signal ?? `exit code ${code}`}: ${complaints.text() || 'tar printed nothing'}`);
    });
  });
  done.catch(() => undefined);
  return {
    tar: {
      complaints,
      done,
      stop: () => {
        if (child.exitCode === null && child.signalCode === null) child.kill();
      },
    },
    stdout: child.stdout,
  };
}
