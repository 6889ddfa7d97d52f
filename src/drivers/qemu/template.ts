import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import {
  chown,
  type FileHandle,
  mkdir,
  mkdtemp,
  open,
  readdir,
  rename,
  rm,
  stat,
  utimes,
} from 'node:fs/promises';
import { createConnection, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { IronClawError } from '../../core/errors.js';
import { exists, inputHash } from '../../image/cache.js';
import type { QmpClient } from './qmp.js';
import { vmmBase } from './runtime-dir.js';

/*
 * VM templates (notes/vmm.md §2.7): boot a VM once per image and configuration with its RAM in
 * a file (memory-backend-file, share=on), stop it once the guest agent answers, and save its
 * device state with QEMU's migration, skipping the file-backed RAM (x-ignore-shared): a state
 * file of some tens of KiB beside the RAM file. A clone starts QEMU with the same devices, maps
 * the RAM copy-on-write (share=off) and loads the state (`-incoming defer`, `migrate-incoming`
 * over a Unix socket: `exec:` would need a fork, which QEMU's own seccomp filter forbids).
 *
 * A clone must not be able to change what its siblings map. QEMU 7.2 opens a memory-backend
 * file read-write even for a private mapping (8.2 falls back to read-only), so a clone is never
 * given the template's RAM file: it gets a sealed copy of it (a memfd with F_SEAL_WRITE, GROW,
 * SHRINK and SEAL: no write, no shared writable mapping, no resize, ever, by anyone), inherited
 * as a descriptor and opened by QEMU through /proc/self/fd. Node cannot make a memfd, so a small
 * python3 program makes and seals it, and this process keeps a descriptor of it.
 *
 * Templates live beside the VM directories (state dir, `-vmm` when root): in memory on a normal
 * host (/run, $XDG_RUNTIME_DIR), gone at reboot, keyed by everything that shapes the guest. Each
 * holds the pages its guest touched (about 150 MiB here), so the store keeps the maxTemplates()
 * used last and evicts the rest when it publishes another. A process reads what it needs of a
 * template once (the sealed RAM copy and the state), so evicting it never breaks a clone.
 */

export interface VmTemplate {
  readonly key: string;
  readonly dir: string;
  /** The template's RAM: never given to a clone (sealedMemory makes what clones map). */
  readonly memory: string;
  /** Device state from QEMU's migration, RAM left out. */
  readonly state: string;
}

/**
 * How many templates the store keeps, and a process keeps loaded: IRONCLAW_VM_TEMPLATES, else 4.
 * Every set of limits has its own template (limits are on the guest's command line), and each
 * holds its guest's RAM, in memory on most hosts.
 */
export function maxTemplates(env: NodeJS.ProcessEnv = process.env): number {
  const value = env.IRONCLAW_VM_TEMPLATES;
  if (value === undefined || value === '') return 4;
  if (!/^\d{1,3}$/.test(value) || Number(value) < 1) {
    throw new IronClawError(
      'INVALID_ARGUMENT',
      `IRONCLAW_VM_TEMPLATES must be a whole number from 1 to 999, not ${JSON.stringify(value)}`,
    );
  }
  return Number(value);
}
/** A staging directory this old was left by a process that died while publishing. */
const STALE_STAGING_MS = 60 * 60 * 1000;

/** How long saving or loading a template's device state may take (some tens of KiB). */
const MIGRATION_TIMEOUT_MS = 30_000;

/** The template store: `<vmm base>/templates`. */
async function templatesDir(): Promise<string> {
  const dir = join(await vmmBase(), 'templates');
  await mkdir(dir, { recursive: true, mode: 0o711 });
  return dir;
}

/**
 * The template key: the QEMU argv (with fixed stand-ins for per-VM paths, so it names the
 * devices, memory, CPU and kernel command line), the image, and QEMU's version (its migration
 * format is its own).
 */
export function templateKey(inputs: {
  imageKey: string;
  argv: readonly string[];
  qemuVersion: string;
}): string {
  return inputHash({ image: inputs.imageKey, argv: inputs.argv, qemu: inputs.qemuVersion });
}

/**
 * The template of `key` if it was made, by this process or another; marked as used now (its
 * directory's time), which is what eviction goes by.
 */
export async function findTemplate(key: string): Promise<VmTemplate | undefined> {
  const template = describe(key, join(await templatesDir(), key));
  if (!(await exists(template.state)) || !(await exists(template.memory))) return undefined;
  await touchTemplate(template);
  return template;
}

/** Marks a template as used now: eviction removes those used longest ago. */
export async function touchTemplate(template: VmTemplate): Promise<void> {
  const now = new Date();
  await utimes(template.dir, now, now).catch(() => undefined); // evicted meanwhile: used anyway
}

function describe(key: string, dir: string): VmTemplate {
  return { key, dir, memory: join(dir, 'memory'), state: join(dir, 'state') };
}

/**
 * Publishes a template from a VM directory that holds `memory` and `state`: moved into a new
 * directory, renamed into place in one step. When another process got there first, its template
 * wins and ours is dropped.
 */
export async function publishTemplate(key: string, from: string): Promise<VmTemplate> {
  const dir = await templatesDir();
  const staging = await mkdtemp(join(dir, `.${key}-`));
  const staged = describe(key, staging);
  await rename(join(from, 'memory'), staged.memory);
  await rename(join(from, 'state'), staged.state);
  try {
    await rename(staging, join(dir, key));
  } catch {
    await rm(staging, { recursive: true, force: true });
    const winner = await findTemplate(key);
    if (!winner)
      throw new IronClawError('INTERNAL', `could not publish VM template ${key} in ${dir}`);
    return winner;
  }
  await evictTemplates(dir, key);
  return describe(key, join(dir, key));
}

/**
 * Keeps the maxTemplates() used last (`keep` among them) and removes the others, and staging
 * directories left by processes that died while publishing.
 */
async function evictTemplates(dir: string, keep: string): Promise<void> {
  const entries = await Promise.all(
    (await readdir(dir)).map(async (name) => ({
      name,
      usedMs: (await stat(join(dir, name)).catch(() => undefined))?.mtimeMs ?? 0,
    })),
  );
  const staleStaging = entries.filter(
    (entry) => entry.name.startsWith('.') && Date.now() - entry.usedMs > STALE_STAGING_MS,
  );
  const others = entries
    .filter((entry) => !entry.name.startsWith('.') && entry.name !== keep)
    .sort((a, b) => b.usedMs - a.usedMs);
  await Promise.all(
    [...staleStaging, ...others.slice(maxTemplates() - 1)].map((entry) =>
      rm(join(dir, entry.name), { recursive: true, force: true }),
    ),
  );
}

/** Removes every template (they are rebuilt on demand); returns how many there were. */
export async function removeTemplates(): Promise<number> {
  const dir = await templatesDir();
  const names = await readdir(dir);
  await Promise.all(names.map((name) => rm(join(dir, name), { recursive: true, force: true })));
  return names.filter((name) => !name.startsWith('.')).length;
}

/**
 * Saves a running template VM: asks QEMU to leave shared RAM out of the stream, stops the
 * guest, and streams the device state over a Unix socket we listen on into `<dir>/state`.
 * The VM must not run again afterwards: its RAM file now belongs to the template.
 */
export async function saveTemplateState(
  qmp: QmpClient,
  options: { dir: string; socket: string; owner: { uid: number; gid: number } },
): Promise<void> {
  const signal = AbortSignal.timeout(MIGRATION_TIMEOUT_MS);
  await qmp.execute('migrate-set-capabilities', IGNORE_SHARED, signal);
  await qmp.execute('stop', {}, signal);
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.socket, resolve);
  });
  try {
    if (process.getuid?.() === 0) await chown(options.socket, options.owner.uid, options.owner.gid);
    const connection = new Promise<Socket>((resolve) => server.once('connection', resolve));
    await qmp.execute('migrate', { uri: `unix:${options.socket}` }, signal);
    const saved = pipeline(
      await raceAbort(connection, signal),
      createWriteStream(join(options.dir, 'state'), { mode: 0o600 }),
      { signal },
    );
    await Promise.all([saved, migrationDone(qmp, signal)]);
  } finally {
    server.close();
  }
}

/**
 * Loads a template's device state into a clone started with `-incoming defer`: QEMU listens on
 * `socket` and we stream the state (the template's state file, read once) into it. Resolves when QEMU has loaded it; the guest is
 * then paused (the template was stopped before it was saved) until `cont`.
 */
export async function loadTemplateState(
  qmp: QmpClient,
  options: { state: Buffer; socket: string; signal: AbortSignal },
): Promise<void> {
  const { state } = options;
  const signal = AbortSignal.any([options.signal, AbortSignal.timeout(MIGRATION_TIMEOUT_MS)]);
  await qmp.execute('migrate-set-capabilities', IGNORE_SHARED, signal);
  await qmp.execute('migrate-incoming', { uri: `unix:${options.socket}` }, signal);
  const socket = createConnection(options.socket);
  try {
    // QEMU closes its end as soon as it has read the stream's end marker, which may be before
    // our end is flushed: the migration's own status says whether the state arrived whole.
    const sent = new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.once('close', () => resolve());
      socket.end(state);
    });
    await Promise.all([raceAbort(sent, signal), migrationDone(qmp, signal)]);
  } finally {
    socket.destroy();
  }
}

const IGNORE_SHARED = { capabilities: [{ capability: 'x-ignore-shared', state: true }] };

/** Polls `query-migrate` until the migration has completed; a failed one rejects. */
async function migrationDone(qmp: QmpClient, signal: AbortSignal): Promise<void> {
  for (let wait = 1; ; wait = Math.min(wait * 2, 20)) {
    const info = (await qmp.execute('query-migrate', {}, signal)) as {
      status?: string;
      'error-desc'?: string;
    };
    if (info.status === 'completed') return;
    if (info.status === 'failed' || info.status === 'cancelled') {
      throw new IronClawError(
        'SANDBOX_START_FAILED',
        `QEMU's migration ${info.status}: ${info['error-desc'] ?? 'no reason given'}`,
      );
    }
    await delay(wait, undefined, { signal });
  }
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      signal.throwIfAborted();
      signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
    }),
  ]);
}

/**
 * python3: copies a RAM file's data (holes stay holes) into a new memfd, seals it, says its pid
 * and descriptor, and exits once the host has opened it through /proc (stdin closes).
 */
const SEAL_PROGRAM = String.raw`
import fcntl, os, sys
src = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(src).st_size
mem = os.memfd_create("ironclaw-template", os.MFD_ALLOW_SEALING)
os.ftruncate(mem, size)
offset = 0
while offset < size:
    try:
        start = os.lseek(src, offset, os.SEEK_DATA)
    except OSError:
        break
    end = os.lseek(src, start, os.SEEK_HOLE)
    os.lseek(mem, start, os.SEEK_SET)
    while start < end:
        sent = os.sendfile(mem, src, start, end - start)
        if sent == 0:
            sys.exit("the RAM file shrank while it was copied")
        start += sent
    offset = end
fcntl.fcntl(mem, fcntl.F_ADD_SEALS, fcntl.F_SEAL_WRITE | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_SEAL)
print(os.getpid(), mem, fcntl.fcntl(mem, fcntl.F_GET_SEALS), flush=True)
sys.stdin.read()
`;

/** Verdicts on python3 binaries, by path. */
const sealers = new Map<string, Promise<string | undefined>>();

/**
 * Why clones cannot be made here, or undefined when they can: sealing a template's RAM takes a
 * python3 with memfd_create and file seals (Python 3.8+ on Linux). Asked once per binary.
 */
export function templatesUnavailable(): Promise<string | undefined> {
  const python = process.env.IRONCLAW_PYTHON ?? 'python3';
  let verdict = sealers.get(python);
  if (!verdict) {
    verdict = new Promise((resolve) => {
      const child = spawn(
        python,
        ['-I', '-S', '-c', 'import fcntl, os; os.memfd_create; fcntl.F_ADD_SEALS'],
        { stdio: 'ignore' },
      );
      const why = `VM templates need ${python} (3.8 or later) on the host to seal a template's memory`;
      child.once('error', () => resolve(why));
      child.once('close', (code) => resolve(code === 0 ? undefined : why));
    });
    sealers.set(python, verdict);
  }
  return verdict;
}

/** The seals SEAL_PROGRAM sets (F_SEAL_SEAL 1, SHRINK 2, GROW 4, WRITE 8). */
const ALL_SEALS = 0xf;

/**
 * A sealed, read-only copy of a template's RAM for clones to map privately: nobody can write
 * to it, map it shared and writable, or resize it, so no clone can change what another clone
 * sees. The returned handle is this process's; every clone inherits it.
 */
export async function sealedMemory(template: VmTemplate): Promise<FileHandle> {
  const python = process.env.IRONCLAW_PYTHON ?? 'python3';
  const child = spawn(python, ['-I', '-S', '-c', SEAL_PROGRAM, template.memory], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  let errors = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (errors += chunk.slice(0, 2000)));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  try {
    const line = await Promise.race([
      new Promise<string>((resolve) =>
        child.stdout.on('data', () => {
          if (output.includes('\n')) resolve(output);
        }),
      ),
      exited.then(() => output),
    ]);
    const [pid, fd, seals] = line.trim().split(' ').map(Number);
    if (pid !== child.pid || fd === undefined || !Number.isInteger(fd) || seals !== ALL_SEALS) {
      throw new IronClawError(
        'SANDBOX_START_FAILED',
        `could not seal a copy of VM template ${template.key}: ${errors.trim() || line.trim() || 'no output'}`,
      );
    }
    return await open(`/proc/${pid}/fd/${fd}`, 'r');
  } catch (error) {
    if (error instanceof IronClawError) throw error;
    throw new IronClawError(
      'SANDBOX_START_FAILED',
      `could not seal a copy of VM template ${template.key} with ${python}: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  } finally {
    child.stdin.end();
    await exited.catch(() => undefined);
  }
}
