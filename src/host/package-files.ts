import { lstat, readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IronClawError } from '../core/errors.js';
import { BOX_ETC_FILES } from './box-env.js';

let cached: Promise<string> | undefined;
let etcChecked: Promise<string> | undefined;

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
  const root = await packageRoot();
  const path = join(root, 'dist', 'guest.mjs');
  await lstat(path).catch(() => {
    throw incomplete(root, ['dist/guest.mjs']);
  });
  return path;
}

/** Path of the bundled network probe (`ironclaw doctor --network` runs it in a box). */
export async function netProbeBundlePath(): Promise<string> {
  const root = await packageRoot();
  const path = join(root, 'dist', 'net-probe.mjs');
  await lstat(path).catch(() => {
    throw incomplete(root, ['dist/net-probe.mjs']);
  });
  return path;
}

/** The directory of the box's own /etc files, checked once to hold every one of them. */
export function boxEtcDir(): Promise<string> {
  etcChecked ??= packageRoot().then(async (root) => {
    const missing = await missingEtcFiles(root);
    if (missing.length > 0) throw incomplete(root, missing);
    return join(root, 'box', 'etc');
  });
  // A long-lived process sees a repaired installation.
  etcChecked.catch(() => (etcChecked = undefined));
  return etcChecked;
}

/**
 * The files boxes read from the package that are missing from this installation, as paths
 * inside the package: none in a whole one. For `ironclaw doctor`, whose box probes would
 * otherwise fail in ways that look like the host's fault.
 */
export async function missingPackageFiles(): Promise<string[]> {
  const root = await packageRoot();
  const guest = await lstat(join(root, 'dist', 'guest.mjs')).then(
    () => [],
    () => ['dist/guest.mjs'],
  );
  return [...(await missingEtcFiles(root)), ...guest];
}

async function missingEtcFiles(root: string): Promise<string[]> {
  const present = await readdir(join(root, 'box', 'etc')).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (present === undefined) return ['box/etc/'];
  return BOX_ETC_FILES.filter((name) => !present.includes(name)).map((name) => `box/etc/${name}`);
}

function incomplete(root: string, missing: readonly string[]): IronClawError {
  return new IronClawError(
    'INTERNAL',
    `the ironclaw package at ${root} is incomplete: ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing; ${PACKAGE_FIX}`,
  );
}

/** What to do about an incomplete package. */
export const PACKAGE_FIX =
  'reinstall the ironclaw package, or in a clone of its repository run `npm run build`';
