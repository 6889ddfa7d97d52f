import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type CpioEntry, cpioArchive } from './cpio.js';
import { RESTORE_HELPER, stage1Script, stage2Script } from './init.js';
import { buildError } from './tools.js';
import { SECCOMP_LOADER } from '../protocol/guest-seccomp.js';

/** busybox applets stage 1 runs by name (its builtins, echo and test, need no link). */
const STAGE1_APPLETS = [
  'sh',
  'mount',
  'umount',
  'insmod',
  'cat',
  'sleep',
  'cp',
  'switch_root',
  'poweroff',
];
const PT_INTERP = 3;

export interface InitramfsInputs {
  /** The host's statically linked busybox (from busybox-static). */
  busybox: Buffer;
  /** Kernel modules in load order: name and contents. */
  modules: readonly { name: string; data: Buffer }[];
  /** The guest agent bundle (dist/guest.mjs). */
  agent: Buffer;
  /** The host's compiled sandbox seccomp filter (dist/seccomp/sandbox.<arch>.bpf). */
  seccompFilter: Buffer;
  /** The native seccomp loader (seccomp-loader.ts), when this host could compile it. */
  seccompLoaderNative?: Buffer | undefined;
  /** The agent's whole environment. */
  env: Readonly<Record<string, string>>;
}

/**
 * The initramfs: busybox, the guest's modules, the two init stages and the guest agent, as an
 * uncompressed newc archive written by our own cpio writer (an uncompressed archive saves the
 * guest a decompression; notes/vmm.md §2.4 measured no difference, and it keeps builds fast).
 */
export function initramfsArchive(inputs: InitramfsInputs): Buffer {
  if (!isStatic(inputs.busybox)) {
    throw buildError('the host busybox is not statically linked: apt-get install busybox-static');
  }
  const entries: CpioEntry[] = [
    { type: 'directory', path: 'bin' },
    { type: 'directory', path: 'dev' },
    { type: 'chardev', path: 'dev/console', major: 5, minor: 1, mode: 0o600 },
    { type: 'directory', path: 'proc' },
    { type: 'directory', path: 'sys' },
    { type: 'directory', path: 'newroot' },
    { type: 'file', path: 'bin/busybox', data: inputs.busybox, mode: 0o755 },
    ...STAGE1_APPLETS.map((name): CpioEntry => ({
      type: 'symlink',
      path: `bin/${name}`,
      target: 'busybox',
    })),
    ...inputs.modules.map((module): CpioEntry => ({
      type: 'file',
      path: `lib/modules/${module.name}.ko`,
      data: module.data,
    })),
    {
      type: 'file',
      path: 'init',
      data: Buffer.from(stage1Script(inputs.modules.map((module) => module.name))),
      mode: 0o755,
    },
    {
      type: 'file',
      path: 'ironclaw/init',
      data: Buffer.from(stage2Script(inputs.env)),
      mode: 0o644,
    },
    { type: 'file', path: 'ironclaw/agent.mjs', data: inputs.agent, mode: 0o644 },
    { type: 'file', path: 'ironclaw/restore.py', data: Buffer.from(RESTORE_HELPER), mode: 0o644 },
    { type: 'file', path: 'ironclaw/seccomp.bpf', data: inputs.seccompFilter, mode: 0o644 },
    {
      type: 'file',
      path: 'ironclaw/seccomp-exec.py',
      data: Buffer.from(SECCOMP_LOADER),
      mode: 0o644,
    },
    ...(inputs.seccompLoaderNative
      ? [
          {
            type: 'file' as const,
            path: 'ironclaw/seccomp-exec',
            data: inputs.seccompLoaderNative,
            mode: 0o755,
          },
        ]
      : []),
  ];
  return cpioArchive(entries);
}

/** Reads the inputs from their files and writes the archive to `outDir`/initramfs.cpio. */
export async function buildInitramfs(
  outDir: string,
  files: {
    busybox: string;
    modulesDir: string;
    modules: readonly string[];
    agent: string;
    seccompFilter: string;
    seccompLoaderNative: Buffer | undefined;
  },
  env: Readonly<Record<string, string>>,
): Promise<number> {
  const [busybox, agent, seccompFilter, modules] = await Promise.all([
    readFile(files.busybox),
    readFile(files.agent),
    readFile(files.seccompFilter),
    Promise.all(
      files.modules.map(async (name) => ({
        name,
        data: await readFile(join(files.modulesDir, `${name}.ko`)),
      })),
    ),
  ]);
  const archive = initramfsArchive({
    busybox,
    agent,
    seccompFilter,
    seccompLoaderNative: files.seccompLoaderNative,
    modules,
    env,
  });
  await writeFile(join(outDir, 'initramfs.cpio'), archive, { mode: 0o644 });
  return archive.length;
}

/** An ELF with no PT_INTERP program header needs no dynamic loader. */
function isStatic(elf: Buffer): boolean {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2) return false;
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const size = elf.readUInt16LE(0x36);
  for (let index = 0; index < elf.readUInt16LE(0x38); index++) {
    if (elf.readUInt32LE(phoff + index * size) === PT_INTERP) return false;
  }
  return true;
}
