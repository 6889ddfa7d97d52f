import {
  type MakeDirectoryOptions,
  type RmOptions,
  type Stats,
  lstatSync,
  mkdirSync,
  renameSync,
  rmSync,
  writeFileSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  realpathSync,
} from 'node:fs';

/*
 * node:fs/promises as the CLI's start-up bundle (dist/cli/main.cjs) has it: the functions its
 * modules use, answered synchronously. Start-up may block (STYLE.md), and a plain `ironclaw
 * exec` then neither loads node:fs/promises (it brings readline, the REPL history and the file
 * watchers: about 1.7 ms) nor starts libuv's thread pool for a dozen small reads (1-3 ms more on
 * a busy machine). scripts/build.mjs substitutes this file in that bundle only; a function it
 * lacks fails the build. test/cli-startup.test.ts compares it with the real module.
 */

export function readFile(path: string, encoding: BufferEncoding): Promise<string> {
  return answer(() => readFileSync(path, encoding));
}

export function readdir(path: string): Promise<string[]> {
  return answer(() => readdirSync(path));
}

export function lstat(path: string): Promise<Stats> {
  return answer(() => lstatSync(path));
}

export function readlink(path: string): Promise<string> {
  return answer(() => readlinkSync(path));
}

/** The native one, as fs/promises' is: realpath(3), not a walk with lstat. */
export function realpath(path: string): Promise<string> {
  return answer(() => realpathSync.native(path));
}

/** The call's result, or its error as a rejection, as the promise API gives them. */
function answer<T>(call: () => T): Promise<T> {
  return new Promise((resolve) => resolve(call()));
}

/*
 * What leasing a box uid uses (host/uid-lease.ts): a root `ironclaw exec` leases its box's uid
 * before it hands over to the box.
 */

export function mkdir(path: string, options: MakeDirectoryOptions): Promise<string | undefined> {
  return answer(() => mkdirSync(path, options));
}

export function writeFile(
  path: string,
  data: string,
  options: { mode?: number; flag?: string },
): Promise<void> {
  return answer(() => writeFileSync(path, data, options));
}

export function rename(from: string, to: string): Promise<void> {
  return answer(() => renameSync(from, to));
}

export function rm(path: string, options: RmOptions): Promise<void> {
  return answer(() => rmSync(path, options));
}
