import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { IronClawError } from '../core/errors.js';
import type { SeccompPolicyName } from '../core/seccomp/index.js';
import { packageRoot } from './package-files.js';

/**
 * Which seccomp filter a box gets: IronClaw's own for what runs on the host (the sandbox policy
 * for a bwrap box's processes, the VMM's allow-list for QEMU), or none (an explicit weakening,
 * for diagnosis, which the isolation report names).
 */
export type SeccompChoice = 'sandbox' | 'none';

export interface SeccompFilterFile {
  /** The compiled struct sock_filter program, as `bwrap --seccomp` reads it. */
  path: string;
  /** For the isolation report: numbers computed by the compiler at build time. */
  summary: string;
  /** Of the program's bytes: what a VM guest checks its copy against (guest-seccomp.ts). */
  sha256: string;
}

const ARCH_OF: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64' };

/** What the build writes beside each compiled program (scripts/build.mjs). */
interface BuiltStats {
  policy: string;
  instructions: number;
  /** Of the program's bytes, computed by the build: no hashing on the hand-over's path. */
  sha256: string;
  total: number;
  allowed: number;
  denied: number;
  conditional: number;
}

const cached = new Map<SeccompPolicyName, Promise<SeccompFilterFile>>();

/**
 * A policy of policies/seccomp/ compiled for this CPU (dist/seccomp/, written by the build with
 * our own compiler). Fails closed: no compiled filter for this machine means no box.
 */
export function seccompFilter(name: SeccompPolicyName): Promise<SeccompFilterFile> {
  let filter = cached.get(name);
  if (filter === undefined) {
    filter = load(name);
    cached.set(name, filter);
    filter.catch(() => cached.delete(name));
  }
  return filter;
}

/** The default policy of sandboxed processes (a deny-list). */
export function sandboxSeccompFilter(): Promise<SeccompFilterFile> {
  return seccompFilter('sandbox');
}

async function load(name: SeccompPolicyName): Promise<SeccompFilterFile> {
  const arch = ARCH_OF[process.arch];
  if (!arch) {
    throw new IronClawError(
      'POLICY_UNENFORCEABLE',
      `no seccomp filter for CPU architecture ${process.arch}: only x64 and arm64 are supported`,
    );
  }
  const base = join(await packageRoot(), 'dist', 'seccomp', `${name}.${arch}`);
  const text = await readFile(`${base}.json`, 'utf8').catch((error: Error) => {
    throw new IronClawError(
      'POLICY_UNENFORCEABLE',
      `the compiled seccomp filter ${base}.bpf is missing (${error.message}); run \`npm run build\``,
    );
  });
  const stats = JSON.parse(text) as BuiltStats;
  await readFile(`${base}.bpf`).catch((error: Error) => {
    throw new IronClawError(
      'POLICY_UNENFORCEABLE',
      `the compiled seccomp filter ${base}.bpf is unreadable (${error.message}); run \`npm run build\``,
    );
  });
  const numbers = name.startsWith('vmm-')
    ? `${stats.allowed} of ${stats.total} ${arch} syscalls allowed, ${stats.conditional} more only with the arguments it uses; any other call kills it`
    : `${stats.denied} of ${stats.total} ${arch} syscalls denied, ${stats.conditional} decided by their arguments`;
  return {
    path: `${base}.bpf`,
    sha256: stats.sha256,
    summary: `policy "${stats.policy}": ${numbers} (${stats.instructions} BPF instructions)`,
  };
}
