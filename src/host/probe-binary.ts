import { execFile } from 'node:child_process';
import type { DriverProbe } from './driver.js';

/** A driver's probe that its binary runs: `binary --version`, its first line as the detail. */
export function probeBinary(name: string, binary: string, fix: string): Promise<DriverProbe> {
  return new Promise((resolve) => {
    execFile(binary, ['--version'], { timeout: 10_000 }, (error, stdout) =>
      resolve({
        name,
        ok: error === null,
        detail: error === null ? (stdout.split('\n')[0] ?? binary) : `${binary}: ${error.message}`,
        fix,
      }),
    );
  });
}
