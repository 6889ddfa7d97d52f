import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IronClawError } from '../core/errors.js';

let cached: Promise<string> | undefined;

/** The installed package's root directory (holding dist/ and box/), found from this module. */
export function packageRoot(): Promise<string> {
  cached ??= find(dirname(fileURLToPath(import.meta.url)));
  return cached;
}

async function find(start: string): Promise<string> {
  for (let dir = start; ; dir = dirname(dir)) {
    const text = await readFile(join(dir, 'package.json'), 'utf8').catch(() => undefined);
    if (text !== undefined && (JSON.parse(text) as { name?: unknown }).name === 'ironclaw')
      return dir;
    if (dirname(dir) === dir) {
      throw new IronClawError(
        'INTERNAL',
        `cannot find the ironclaw package root above ${start}; is the installation complete?`,
      );
    }
  }
}

/** Path of the bundled guest agent; it exists once `npm run build` has run. */
export async function guestBundlePath(): Promise<string> {
  return join(await packageRoot(), 'dist', 'guest.mjs');
}

export async function boxEtcDir(): Promise<string> {
  return join(await packageRoot(), 'box', 'etc');
}
