import { execFile } from 'node:child_process';
import { access, constants, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** The host programs a Firecracker box needs, by absolute path (the jailer insists on one). */
export interface FirecrackerTools {
  firecracker: string;
  jailer: string;
  /** `firecracker --version`'s first line. */
  version: string;
}

/**
 * Why this host cannot run Firecracker boxes, or undefined when it has everything a start
 * needs before trying one: x86-64 Linux, root (the jailer makes device nodes, a chroot and
 * cgroups, and drops to the box's uid), /dev/kvm, and the firecracker and jailer binaries
 * (IRONCLAW_FIRECRACKER and IRONCLAW_JAILER, else from PATH). Whether KVM really boots a guest
 * is only known by booting one (`ironclaw doctor` does).
 */
export async function firecrackerUnavailable(): Promise<string | undefined> {
  const host = await firecrackerHost();
  return typeof host === 'string' ? host : undefined;
}

/** The tools, once the host has passed every check of firecrackerUnavailable; else why not. */
export async function firecrackerHost(): Promise<FirecrackerTools | string> {
  if (process.platform !== 'linux' || process.arch !== 'x64')
    return `the firecracker driver needs x86-64 Linux, not ${process.platform}/${process.arch} (the guest image is x86-64)`;
  if (process.getuid?.() !== 0)
    return 'the firecracker driver needs root: its jailer makes the chroot, /dev/kvm in it and the cgroups, then drops to the box uid';
  const kvm = await stat('/dev/kvm').catch(() => undefined);
  if (!kvm?.isCharacterDevice()) return 'this host has no /dev/kvm (Firecracker runs on KVM only)';
  // Found tools are kept for the process (every box start asks); what is missing is looked for
  // again, so installing them needs no restart.
  const key = `${process.env.IRONCLAW_FIRECRACKER ?? ''}\0${process.env.IRONCLAW_JAILER ?? ''}\0${process.env.PATH ?? ''}`;
  const known = found.get(key);
  if (known) return known;
  const tools = await findFirecrackerTools();
  if (typeof tools !== 'string') found.set(key, tools);
  return tools;
}

const found = new Map<string, FirecrackerTools>();

/** The binaries and firecracker's version, or what is missing (as text to show). */
async function findFirecrackerTools(): Promise<FirecrackerTools | string> {
  const [firecracker, jailer] = await Promise.all([
    findExecutable(process.env.IRONCLAW_FIRECRACKER ?? 'firecracker'),
    findExecutable(process.env.IRONCLAW_JAILER ?? 'jailer'),
  ]);
  const missing = [
    firecracker ? undefined : 'firecracker (or IRONCLAW_FIRECRACKER)',
    jailer ? undefined : 'jailer (or IRONCLAW_JAILER)',
  ].filter((name) => name !== undefined);
  if (!firecracker || !jailer) {
    return `${missing.join(' and ')} not found on PATH: install both from the same Firecracker release (github.com/firecracker-microvm/firecracker/releases), static musl builds`;
  }
  const version = await execFileAsync(firecracker, ['--version'], { timeout: 5000 }).then(
    ({ stdout }) => stdout.split('\n')[0]?.trim() ?? '',
    (error: Error) => `unknown (${error.message})`,
  );
  return { firecracker, jailer, version };
}

/** An absolute path as it is, a bare name looked up on PATH; undefined when not executable. */
async function findExecutable(name: string): Promise<string | undefined> {
  const executable = (path: string): Promise<boolean> =>
    access(path, constants.X_OK).then(
      () => true,
      () => false,
    );
  if (isAbsolute(name)) return (await executable(name)) ? name : undefined;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '' || !isAbsolute(dir)) continue;
    const candidate = join(dir, name);
    if (await executable(candidate)) return candidate;
  }
  return undefined;
}
