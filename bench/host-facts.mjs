// Facts about the machine that a reader of a result file needs to compare two runs.
import { execFile } from 'node:child_process';
import { access, lstat, readlink } from 'node:fs/promises';
import os from 'node:os';
import { URL } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * The --symlink arguments that recreate the host's merged-/usr links in a box (bin -> usr/bin),
 * found the same way IronClaw finds them, so the raw bwrap baseline sees the same layout.
 * @returns {Promise<string[]>}
 */
export async function usrSymlinkArgs() {
  const links = await Promise.all(
    ['/bin', '/sbin', '/lib', '/lib64'].map(async (path) => {
      const info = await lstat(path).catch(() => undefined);
      return info?.isSymbolicLink() ? ['--symlink', await readlink(path), path] : [];
    }),
  );
  return links.flat();
}

/** The commit measured, and whether the working tree differed from it (others edit src/). */
export async function sourceFacts() {
  const cwd = new URL('../', import.meta.url);
  const git = (/** @type {string[]} */ args) =>
    run('git', args, { cwd }).then(
      ({ stdout }) => stdout.trim(),
      () => undefined,
    );
  const [commit, status] = await Promise.all([
    git(['rev-parse', 'HEAD']),
    git(['status', '--porcelain', '--', 'src', 'bin', 'box', 'scripts']),
  ]);
  return {
    commit: commit ?? 'unknown',
    changedFiles: status === undefined ? 'unknown' : status.split('\n').filter(Boolean).length,
  };
}

export async function hostFacts() {
  const [bwrapVersion, cgroupV2] = await Promise.all([
    run('bwrap', ['--version']).then(
      ({ stdout }) => stdout.trim(),
      (error) => `unavailable: ${error instanceof Error ? error.message : String(error)}`,
    ),
    access('/sys/fs/cgroup/cgroup.controllers').then(
      () => true,
      () => false,
    ),
  ]);
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    loadAverage: os.loadavg(),
    kernel: os.release(),
    platform: `${os.platform()} ${os.arch()}`,
    bwrapVersion,
    root: process.getuid?.() === 0,
    // v2 when the unified hierarchy's root file exists; otherwise v1 (or hybrid) controllers.
    cgroupMode: cgroupV2 ? 'v2' : 'v1',
  };
}
