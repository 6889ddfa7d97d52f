// Generates src/core/seccomp/tables/{x86_64,aarch64}.ts (syscall name → number) from Debian's
// linux-libc-dev packages, one per architecture, of one version. Run as root on Debian:
//
//   dpkg --add-architecture arm64 && apt-get update
//   node scripts/gen-syscall-tables.mjs [--version 6.1.192-2] [--debs DIR]
//
// Without --debs the two .deb files are fetched with `apt-get download`; with --debs DIR the
// files linux-libc-dev_<version>_{amd64,arm64}.deb are taken from DIR. x86_64 numbers are read
// from asm/unistd_64.h; arm64 uses asm-generic/unistd.h under the __ARCH_WANT_* flags its
// asm/unistd.h sets, so that file is run through the C preprocessor (cpp) and the resulting
// __NR_* macros are evaluated here.
import { execFile as execFileCallback } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';

const execFile = promisify(execFileCallback);
const OUT_DIR = 'src/core/seccomp/tables';

const ARCHES = [
  {
    arch: 'x86_64',
    debArch: 'amd64',
    constName: 'X86_64_SYSCALLS',
    header: 'usr/include/x86_64-linux-gnu/asm/unistd_64.h',
    read: (root) => readPlainHeader(join(root, 'usr/include/x86_64-linux-gnu/asm/unistd_64.h')),
  },
  {
    arch: 'aarch64',
    debArch: 'arm64',
    constName: 'AARCH64_SYSCALLS',
    header:
      'usr/include/asm-generic/unistd.h, included by usr/include/aarch64-linux-gnu/asm/unistd.h',
    read: (root) => readPreprocessed(root),
  },
];

async function main() {
  const { values } = parseArgs({
    options: { version: { type: 'string' }, debs: { type: 'string' } },
  });
  const work = await mkdtemp(join(tmpdir(), 'ironclaw-syscalls-'));
  try {
    const version = values.version ?? (await candidateVersion());
    const debDir = values.debs ?? work;
    if (values.debs === undefined) {
      const specs = ARCHES.map((a) => `linux-libc-dev:${a.debArch}=${version}`);
      await execFile('apt-get', ['download', ...specs], { cwd: work });
    }
    const cppVersion = (await execFile('cpp', ['--version'])).stdout.split('\n')[0];
    for (const spec of ARCHES) {
      const deb = join(debDir, `linux-libc-dev_${version}_${spec.debArch}.deb`);
      const root = join(work, spec.debArch);
      await execFile('dpkg-deb', ['-x', deb, root]);
      const sha256 = createHash('sha256')
        .update(await readFile(deb))
        .digest('hex');
      const table = await spec.read(root);
      const source = [
        `Debian package linux-libc-dev ${version} (${spec.debArch}), sha256 ${sha256}`,
        `file ${spec.header}`,
        ...(spec.arch === 'aarch64' ? [`preprocessed by ${cppVersion}`] : []),
      ];
      await writeFile(join(OUT_DIR, `${spec.arch}.ts`), render(spec, source, table));
      console.error(`${spec.arch}: ${table.size} syscalls from linux-libc-dev ${version}`);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function candidateVersion() {
  const { stdout } = await execFile('apt-cache', ['policy', 'linux-libc-dev']);
  const match = /Candidate:\s*(\S+)/.exec(stdout);
  if (!match || match[1] === '(none)') throw new Error('apt-cache knows no linux-libc-dev');
  return match[1];
}

/** `#define __NR_name 123` lines, as in x86's generated unistd_64.h. */
async function readPlainHeader(path) {
  const table = new Map();
  for (const line of (await readFile(path, 'utf8')).split('\n')) {
    const match = /^#define __NR_(\w+)\s+(\d+)\s*$/.exec(line);
    if (match) table.set(match[1], Number(match[2]));
  }
  return table;
}

/** Every __NR_* macro that cpp sees after including arm64's asm/unistd.h, evaluated. */
async function readPreprocessed(root) {
  const probe = join(root, 'probe.h');
  await writeFile(probe, '#include <asm/unistd.h>\n');
  const include = ['-I', join(root, 'usr/include/aarch64-linux-gnu')];
  const args = ['-nostdinc', '-undef', '-dM', ...include, '-I', join(root, 'usr/include'), probe];
  const { stdout } = await execFile('cpp', args);
  const macros = new Map();
  for (const line of stdout.split('\n')) {
    const match = /^#define (\w+) (.+)$/.exec(line);
    if (match) macros.set(match[1], match[2]);
  }
  const table = new Map();
  for (const name of macros.keys()) {
    const syscall = /^__NR_(\w+)$/.exec(name)?.[1];
    if (syscall === undefined || syscall === 'syscalls' || syscall === 'arch_specific_syscall') {
      continue;
    }
    table.set(syscall, evaluate(name, macros));
  }
  return table;
}

/** The value of a macro whose body is numbers, other macros, `+` and parentheses. */
function evaluate(name, macros, depth = 0) {
  const body = macros.get(name);
  if (body === undefined || depth > 10) throw new Error(`cannot evaluate macro ${name}`);
  let sum = 0;
  for (const token of body.replace(/[()]/g, ' ').split('+')) {
    const term = token.trim();
    if (/^\d+$/.test(term)) sum += Number(term);
    else if (/^\w+$/.test(term)) sum += evaluate(term, macros, depth + 1);
    else throw new Error(`unexpected term ${JSON.stringify(term)} in ${name}`);
  }
  return sum;
}

function render(spec, source, table) {
  const entries = [...table].sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]));
  return [
    '// Generated by scripts/gen-syscall-tables.mjs; do not edit.',
    ...source.map((line) => `// Source: ${line}`),
    `/** Syscall numbers of the ${spec.arch} Linux ABI, by name. */`,
    `export const ${spec.constName}: Readonly<Record<string, number>> = {`,
    ...entries.map(([name, nr]) => `  ${name}: ${nr},`),
    '};',
    '',
  ].join('\n');
}

await main();
