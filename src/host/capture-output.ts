import type { ChildProcess } from 'node:child_process';
import { PassThrough, type Readable } from 'node:stream';

/** The child's stdout and stderr, read from now on into streams that keep what they get. */
export function captureOutput(child: ChildProcess): { stdout: Readable; stderr: Readable } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  if (child.stdout) child.stdout.pipe(stdout);
  else stdout.end();
  if (child.stderr) child.stderr.pipe(stderr);
  else stderr.end();
  return { stdout, stderr };
}
