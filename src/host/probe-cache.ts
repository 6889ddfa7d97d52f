import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defaultStateDir, ensureStateDir } from './state-dir.js';

/**
 * Remembers the outcome of a slow probe of the machine (does a KVM guest boot, which gVisor
 * platform works) in the state directory, under a key made of everything the outcome depends
 * on (tool versions, kernel release, the device node): a changed machine gets a fresh probe, an
 * unchanged one is not probed again by every one-shot run.
 */
export async function cachedProbe<T>(
  name: string,
  key: string,
  probe: () => Promise<T>,
): Promise<T> {
  const dir = await ensureStateDir(defaultStateDir()).catch(() => undefined);
  const file = dir === undefined ? undefined : join(dir, `probe-${name}.json`);
  if (file) {
    const stored = await readFile(file, 'utf8')
      .then((text) => JSON.parse(text) as { key?: unknown; value?: T })
      .catch(() => undefined);
    if (stored?.key === key && stored.value !== undefined) return stored.value;
  }
  const value = await probe();
  if (file) {
    // Written whole, then renamed: a concurrent reader sees the old record or the new one.
    const partial = `${file}.${process.pid}`;
    await writeFile(partial, JSON.stringify({ key, value, at: new Date().toISOString() }), {
      mode: 0o600,
    })
      .then(() => rename(partial, file))
      .catch(() => undefined);
  }
  return value;
}
