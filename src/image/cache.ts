import { createHash } from 'node:crypto';
import { access, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { IronClawError } from '../core/errors.js';

/**
 * The cache of built guest images: IRONCLAW_CACHE_DIR, else /var/cache/ironclaw for root, else
 * $XDG_CACHE_HOME/ironclaw, else ~/.cache/ironclaw. Nothing in it is secret (it holds what the
 * host's packages hold), but every file in it ends up inside VMs, so it belongs to its user.
 */
export function imageCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.IRONCLAW_CACHE_DIR) return env.IRONCLAW_CACHE_DIR;
  if (process.getuid?.() === 0) return '/var/cache/ironclaw';
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'ironclaw');
  return join(homedir(), '.cache', 'ironclaw');
}

/**
 * A short, stable hash of a build's inputs: canonical JSON (keys sorted at every level), so the
 * same inputs always give the same key and any change gives another.
 */
export function inputHash(inputs: unknown): string {
  return createHash('sha256').update(canonicalJson(inputs)).digest('hex').slice(0, 16);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** How long a builder waits for another process building the same thing before giving up. */
const LOCK_WAIT_MS = 15 * 60_000;

/**
 * Builds `dir` once: if it exists it is returned as it is; otherwise `build` fills a fresh
 * temporary directory beside it, which is renamed into place only when complete, so a crashed
 * or interrupted build never leaves a half-built entry. A lock file (holding the builder's pid)
 * makes concurrent processes wait for one build instead of repeating it; a lock whose process
 * is gone is taken over.
 */
export async function buildOnce(
  dir: string,
  build: (staging: string) => Promise<void>,
): Promise<string> {
  if (await exists(dir)) return dir;
  await mkdir(dirname(dir), { recursive: true, mode: 0o755 });
  const lock = `${dir}.lock`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    const handle = await open(lock, 'wx', 0o644).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'EEXIST') return undefined;
      throw error;
    });
    if (handle) {
      try {
        await handle.writeFile(String(process.pid));
        await handle.close();
        if (await exists(dir)) return dir;
        return await publish(dir, build);
      } finally {
        await rm(lock, { force: true });
      }
    }
    if (await exists(dir)) return dir;
    const holder = Number(await readFile(lock, 'utf8').catch(() => ''));
    if (holder > 0 && !alive(holder)) {
      await rm(lock, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new IronClawError(
        'TIMEOUT',
        `waited too long for process ${holder} to build ${basename(dir)}; if no build is running, remove ${lock}`,
      );
    }
    await delay(500);
  }
}

async function publish(dir: string, build: (staging: string) => Promise<void>): Promise<string> {
  const staging = `${dir}.partial-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true, mode: 0o755 });
  try {
    await build(staging);
    await rename(staging, dir);
    return dir;
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
