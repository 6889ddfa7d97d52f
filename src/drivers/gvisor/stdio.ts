import { constants, fstat, type Stats } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import { IronClawError } from '../../core/errors.js';

/*
 * runsc (this version has no --pass-fd) gives the box exactly runsc's own stdin, stdout and
 * stderr, so those three descriptors are everything a gVisor box can share with the host.
 */

/** Longest path of a Unix socket (sun_path is 108 bytes with its terminating NUL). */
const MAX_SOCKET_PATH = 107;

/**
 * A connected pair of Unix stream sockets: `box` becomes the box's stdin, where the guest
 * agent speaks the framed protocol in both directions (IRONCLAW_AGENT_FD=0), and `host` is our
 * end. Made by listening in the box's 0700 runtime directory and connecting once, since node
 * has no socketpair(); the listener is closed as soon as the one connection is accepted.
 */
export async function channelPair(dir: string): Promise<{ host: Socket; box: Socket }> {
  let path = join(dir, 'channel.sock');
  let scratch: string | undefined;
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
    scratch = await mkdtemp(join(tmpdir(), 'ironclaw-'));
    path = join(scratch, 's');
  }
  const server = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ path, exclusive: true }, resolve);
    });
    const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
    const host = connect({ path });
    const [box] = await Promise.all([
      accepted,
      new Promise<void>((resolve, reject) => {
        host.once('connect', resolve);
        host.once('error', reject);
      }),
    ]);
    return { host, box };
  } catch (error) {
    throw new IronClawError(
      'SANDBOX_START_FAILED',
      `cannot make the guest channel at ${path}: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  } finally {
    server.close();
    if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Descriptors for a command payload's stdin and stdout, and a close for those we opened.
 * 'relay' means: give the box a pipe and copy what it writes on to ours (see boxStdio).
 */
export interface BoxStdio {
  fds: (number | 'relay')[];
  close(): Promise<void>;
}

/**
 * The caller's stdin, stdout and stderr as the box should get them. gVisor sets O_NONBLOCK on
 * the descriptors it is given and leaves it set; that flag lives in the open file description,
 * which a caller's shell shares, so a terminal or pipe handed over as it is stays non-blocking
 * after the box has gone. Terminals, pipes and FIFOs are therefore re-opened through
 * /proc/self/fd, which makes a new open file description of the same object for the box alone.
 * Sockets (which cannot be re-opened) are passed as they are. A regular file to write to is
 * relayed through a pipe: gVisor writes a donated file at an offset of its own, from 0, so
 * output would land over what the file already holds instead of after it.
 */
export async function boxStdio(fds: readonly number[]): Promise<BoxStdio> {
  const opened: FileHandle[] = [];
  const result = await Promise.all(
    fds.map(async (fd, index) => {
      const info = await fstatFd(fd);
      if (index > 0 && info?.isFile()) return 'relay' as const;
      if (!info || !(info.isFIFO() || info.isCharacterDevice())) return fd;
      const access = index === 0 ? constants.O_RDONLY : constants.O_WRONLY;
      // O_NONBLOCK: opening a pipe's write side must not wait for a reader; the new
      // description is the box's own, so its flags do not matter to anyone else. (libuv opens
      // it close-on-exec; spawn dups it onto the child's stdio.)
      const handle = await open(
        `/proc/self/fd/${fd}`,
        access | constants.O_NOCTTY | constants.O_NONBLOCK,
      ).catch(() => undefined);
      if (!handle) return fd;
      opened.push(handle);
      return handle.fd;
    }),
  );
  return {
    fds: result,
    close: async () => {
      await Promise.allSettled(opened.map((handle) => handle.close()));
    },
  };
}

function fstatFd(fd: number): Promise<Stats | undefined> {
  return new Promise((resolve) => fstat(fd, (error, info) => resolve(error ? undefined : info)));
}
