import { open } from 'node:fs/promises';
import { buildError, runTool } from './tools.js';

/**
 * The guest's userland, assembled from the host's own Debian packages rather than bootstrapped
 * from a mirror (no debootstrap, no network beyond apt's own for the kernel, and the guest runs
 * the same python3 and git as the host, which the bwrap and gVisor boxes see too). Each
 * package's files (`dpkg -L`) are copied, without docs, man pages or translations; the shared
 * libraries they need come from `ldd`, so dependencies are followed at the ELF level instead of
 * through the whole Depends graph (which would pull in perl for git, for one).
 */

/** Packages the guest must have: a shell and coreutils, python3, git, prlimit and setpriv. */
const REQUIRED = ['dash', 'coreutils', 'util-linux', 'python3-minimal', 'git'] as const;
/** Packages copied when the host has them: the rest of a useful shell environment. */
const OPTIONAL = [
  'bash',
  'grep',
  'sed',
  'mawk',
  'findutils',
  'diffutils',
  'tar',
  'gzip',
  'xz-utils',
  'bzip2',
  'procps',
  'less',
  'ncurses-base',
  // script(1), which makes an exec -t command's pseudo-terminal (src/guest/pty.ts).
  'bsdutils',
] as const;
/** Every installed part of the host's python3 (python3, python3.11-minimal, libpython3.11-stdlib…). */
const PYTHON = /^(lib)?python3(\.\d+)?(-minimal|-stdlib)?$/;

/** Package paths left out of the guest: documentation and translations nobody reads there. */
const EXCLUDED = [
  '/usr/share/doc/',
  '/usr/share/man/',
  '/usr/share/info/',
  '/usr/share/locale/',
  '/usr/share/lintian/',
  '/usr/share/bash-completion/',
  '/usr/share/zsh/',
  '/usr/share/bug/',
  '/usr/share/menu/',
  '/usr/share/gitweb/',
  '/etc/init.d/',
  '/etc/cron.',
  '/etc/logrotate.d/',
  '/lib/systemd/',
  '/usr/lib/systemd/',
];

export interface HostPackage {
  name: string;
  version: string;
}

/** The host packages the guest userland is made of, with their installed versions. */
export async function userlandPackages(): Promise<HostPackage[]> {
  const listing = await runTool('dpkg-query', [
    '-W',
    '-f',
    '${Package}\t${Version}\t${db:Status-Abbrev}\n',
  ]);
  const installed = new Map<string, string>();
  for (const line of listing.split('\n')) {
    const [name, version, status] = line.split('\t');
    if (name && version && status?.startsWith('ii'))
      installed.set(name.replace(/:.*$/, ''), version);
  }
  const missing = REQUIRED.filter((name) => !installed.has(name));
  if (missing.length > 0) {
    throw buildError(
      `the host lacks the packages ${missing.join(', ')}: apt-get install ${missing.join(' ')}`,
    );
  }
  const names = new Set<string>([...REQUIRED, ...OPTIONAL.filter((name) => installed.has(name))]);
  for (const name of installed.keys()) if (PYTHON.test(name)) names.add(name);
  return [...names].sort().map((name) => ({ name, version: installed.get(name) ?? '' }));
}

/** The files of `packages`, as `dpkg -L` lists them, less the excluded ones. */
export async function packageFiles(packages: readonly HostPackage[]): Promise<string[]> {
  const listing = await runTool('dpkg-query', ['-L', ...packages.map((item) => item.name)]);
  return listing
    .split('\n')
    .filter((path) => path.startsWith('/') && path !== '/.')
    .filter((path) => !EXCLUDED.some((prefix) => path.startsWith(prefix) || `${path}/` === prefix));
}

/** Whether the file at `path` is an ELF object (executable or shared library). */
export async function isElf(path: string): Promise<boolean> {
  const handle = await open(path, 'r').catch(() => undefined);
  if (!handle) return false;
  try {
    const { bytesRead, buffer } = await handle.read(Buffer.alloc(4), 0, 4, 0);
    return bytesRead === 4 && buffer.readUInt32BE(0) === 0x7f454c46;
  } finally {
    await handle.close();
  }
}

/**
 * The shared libraries (and the dynamic loader) that `elfFiles` load, as host paths, from
 * `ldd` run over them in batches (ldd prints the whole closure of each file), and the ones the
 * host does not have: a plugin of an optional feature, which then fails in the guest as it
 * would on the host.
 */
export async function sharedLibraries(
  elfFiles: readonly string[],
): Promise<{ libraries: Set<string>; missing: Set<string> }> {
  const libraries = new Set<string>();
  const missing = new Set<string>();
  for (let start = 0; start < elfFiles.length; start += 200) {
    const batch = elfFiles.slice(start, start + 200);
    // ldd fails (exit 1) when any file is not dynamic (a static binary, a kernel module).
    const out = await runTool('ldd', batch, { allowFailure: true });
    for (const line of out.split('\n')) {
      const match = /^\s+(?:\S+ => )?(\/\S+) \(0x[0-9a-f]+\)$/.exec(line);
      if (match?.[1]) libraries.add(match[1]);
      const absent = /^\s+(\S+) => not found$/.exec(line);
      if (absent?.[1]) missing.add(absent[1]);
    }
  }
  return { libraries, missing };
}
