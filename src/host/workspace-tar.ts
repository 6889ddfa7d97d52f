import { spawn } from 'node:child_process';
import { open } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Readable, Stream } from 'node:stream';
import { IronClawError } from '../core/errors.js';
import { BoundedTail } from './bounded-tail.js';

/*
 * The one place the host's tar packs a workspace for a box. It runs as the calling user, so the
 * box gets exactly what that user can read, and every driver's copy-in reads the same archive:
 * bwrap streams it into the box, gVisor puts it in the bundle as a file, the VM drivers feed it
 * to an exec's stdin. The box unpacks it with its own tar.
 */

/** A running tar of a workspace directory. */
export interface WorkspaceTar {
  /** tar's stderr (its last 16 KiB), or why it could not run: the words to quote on failure. */
  readonly complaints: BoundedTail;
  /**
   * Resolves when tar exits 0; rejects with SANDBOX_START_FAILED quoting tar otherwise. Marked
   * handled, so a caller that reads only `complaints` leaves no unhandled rejection behind.
   */
  readonly done: Promise<void>;
  /** Kills tar if it still runs (nobody will read the rest of the archive). Idempotent. */
  stop(): void;
}

/**
 * Packs `dir` into `into`, a descriptor or a stream that has one (a socket, a pipe, a file):
 * tar writes straight into it, so node never holds the archive. The caller closes its own copy
 * once this returns, so that the reader sees end-of-file when tar exits.
 */
export function packWorkspace(dir: string, into: number | Stream): WorkspaceTar {
  return spawnTar(dir, into).tar;
}

/**
 * Packs `dir` into a pipe whose read end is `stdout`. Start reading it in the same tick: once
 * tar exits, node drains an unread pipe and drops what is in it.
 */
export function packWorkspaceToPipe(dir: string): WorkspaceTar & { readonly stdout: Readable } {
  const { tar, stdout } = spawnTar(dir, 'pipe');
  if (!stdout) throw new IronClawError('INTERNAL', 'tar was started without a stdout pipe');
  return { ...tar, stdout };
}

/**
 * Packs one file or directory, named in the archive by its own name (`sandbox cp`), into a pipe
 * read from `stdout`, as packWorkspaceToPipe does. Symlinks go in as links, never followed.
 */
export function packPathToPipe(path: string): WorkspaceTar & { readonly stdout: Readable } {
  const { tar, stdout } = spawnTar(dirname(path), 'pipe', {
    member: basename(path),
    what: `cannot copy ${path} into the box`,
    code: 'FILE_ERROR',
  });
  if (!stdout) throw new IronClawError('INTERNAL', 'tar was started without a stdout pipe');
  return { ...tar, stdout };
}

/** Packs `dir` into `file`, which must not exist yet; its mode is the one `tar -cf file` gives. */
export async function packWorkspaceToFile(dir: string, file: string): Promise<void> {
  const handle = await open(file, 'wx', 0o666);
  let tar: WorkspaceTar;
  try {
    tar = packWorkspace(dir, handle.fd);
  } finally {
    await handle.close();
  }
  await tar.done;
}

/**
 * tar's whole command line. Its environment is only PATH and the C locale: TAR_OPTIONS or
 * POSIXLY_CORRECT in the caller's environment would otherwise change what the box receives
 * (--dereference would copy in the targets of symlinks), and the quoted complaints stay English.
 */
function spawnTar(
  dir: string,
  stdout: number | Stream | 'pipe',
  options: { member: string; what: string; code: 'SANDBOX_START_FAILED' | 'FILE_ERROR' } = {
    member: '.',
    what: `cannot copy workspace ${dir} into the box`,
    code: 'SANDBOX_START_FAILED',
  },
): { tar: WorkspaceTar; stdout: Readable | null } {
  const complaints = new BoundedTail();
  const child = spawn('tar', ['-C', dir, '-cf', '-', '--', options.member], {
    stdio: ['ignore', stdout, 'pipe'],
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
