import { closeSync, readdirSync, readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { IronClawError } from '../core/errors.js';
import { isInheritable } from '../core/fd-info.js';

/**
 * Set once closeInheritedFds has run: on the process, not in this module, as descriptors are
 * the process's and this module can be loaded twice (the CLI's bundles each hold a copy).
 */
const CLOSED = Symbol.for('ironclaw.inheritedFdsClosed');

/**
 * Closes every descriptor above stderr that this process would pass to its children: ones
 * our parent leaked to us. Synchronous, for the first lines of a command-line start-up.
 */
export function closeInheritedFds(keep: readonly number[] = []): number[] {
  const closed: number[] = [];
  for (const name of readdirSync('/proc/self/fdinfo')) {
    const fd = Number(name);
    if (fd <= 2 || keep.includes(fd)) continue;
    const info = readInfo(name);
    if (!isInheritable(info)) continue;
    closeSync(fd);
    closed.push(fd);
  }
  // Node opens its own descriptors close-on-exec, so none can appear from here on.
  (globalThis as Record<symbol, unknown>)[CLOSED] = true;
  return closed;
}

let checked: Promise<void> | undefined;

/**
 * Fails closed when this process holds descriptors that a box would inherit. A program that
 * embeds IronClaw calls closeInheritedFds() at start-up (the ironclaw CLI does).
 */
export function assertNoInheritedFds(): Promise<void> {
  if ((globalThis as Record<symbol, unknown>)[CLOSED] === true) return Promise.resolve();
  checked ??= (async () => {
    const leaks: string[] = [];
    for (const name of await readdir('/proc/self/fdinfo')) {
      if (Number(name) <= 2) continue;
      const info = await readFile(`/proc/self/fdinfo/${name}`, 'utf8').catch(() => '');
      if (isInheritable(info)) leaks.push(name);
    }
    if (leaks.length > 0) {
      checked = undefined;
      throw new IronClawError(
        'SANDBOX_START_FAILED',
        `this process holds file descriptors ${leaks.join(', ')} without close-on-exec: every box would inherit them; call closeInheritedFds() from the ironclaw package at start-up`,
      );
    }
  })();
  return checked;
}

/** '' for a descriptor that closed meanwhile (the directory listing's own, for one). */
function readInfo(name: string): string {
  try {
    return readFileSync(`/proc/self/fdinfo/${name}`, 'utf8');
  } catch {
    return '';
  }
}
