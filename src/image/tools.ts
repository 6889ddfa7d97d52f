import { execFile } from 'node:child_process';
import { IronClawError } from '../core/errors.js';

/** How an image build reports what it is doing (the CLI prints it; tests may collect it). */
export type Progress = (message: string) => void;

/**
 * Runs one host tool of the image build (apt-get, dpkg-deb, dpkg-query, ldd, mkfs.ext4) with
 * an argv array and a clean, predictable environment, and returns its stdout. A failure names
 * the command and quotes the tail of its stderr.
 */
export function runTool(
  file: string,
  args: readonly string[],
  options: { cwd?: string; signal?: AbortSignal; allowFailure?: boolean } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      {
        cwd: options.cwd,
        env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' },
        maxBuffer: 64 * 1024 * 1024,
        ...(options.signal ? { signal: options.signal } : {}),
      },
      (error, stdout, stderr) => {
        if (error && !options.allowFailure) {
          const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
          reject(
            new IronClawError(
              'IMAGE_BUILD_FAILED',
              missing
                ? `cannot build the VM image: ${file} is not installed (run setup.sh, or apt-get install the package that has it)`
                : `cannot build the VM image: ${[file, ...args].join(' ')} failed: ${stderr.trim().slice(-2000) || error.message}`,
              { cause: error },
            ),
          );
          return;
        }
        resolve(stdout);
      },
    );
  });
}

/** An image-build failure of our own making (a missing file, an unexpected package layout). */
export function buildError(message: string, cause?: unknown): IronClawError {
  return new IronClawError('IMAGE_BUILD_FAILED', `cannot build the VM image: ${message}`, {
    cause,
  });
}
