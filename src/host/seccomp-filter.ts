import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { IronClawError } from '../core/errors.js';
import { packageRoot } from './package-files.js';

/** Which seccomp filter a box gets: the default sandbox policy, or none (an explicit weakening). */
export type SeccompChoice = 'sandbox' | 'none';

export interface SeccompFilterFile {
  /** The compiled struct sock_filter program, as `bwrap --seccomp` reads it. */
  path: string;
  /** For the isolation report: numbers computed by the compiler at build time. */
  summary: string;
}

const ARCH_OF: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64' };

let cached: Promise<SeccompFilterFile> | undefined;

/**
 * The default policy compiled for this CPU (dist/seccomp/, written by the build with our own
 * compiler). Fails closed: no compiled filter for this machine means no box.
 */
export function sandboxSeccompFilter(): Promise<SeccompFilterFile> {
  cached ??= (async () => {
    const arch = ARCH_OF[process.arch];
    if (!arch) {
      throw new IronClawError(
        'POLICY_UNENFORCEABLE',
        `no seccomp filter for CPU architecture ${process.arch}: only x64 and arm64 are supported`,
      );
    }
    const base = join(await packageRoot(), 'dist', 'seccomp', `sandbox.${arch}`);
    const text = await readFile(`${base}.json`, 'utf8').catch((error: Error) => {
      throw new IronClawError(
        'POLICY_UNENFORCEABLE',
        `the compiled seccomp filter ${base}.bpf is missing (${error.message}); run \`npm run build\``,
      );
    });
    const stats = JSON.parse(text) as {
      policy: string;
      instructions: number;
      total: number;
      denied: number;
      conditional: number;
    };
    return {
      path: `${base}.bpf`,
      summary: `policy "${stats.policy}": ${stats.denied} of ${stats.total} ${arch} syscalls denied, ${stats.conditional} decided by their arguments (${stats.instructions} BPF instructions)`,
    };
  })();
  cached.catch(() => {
    cached = undefined;
  });
  return cached;
}
