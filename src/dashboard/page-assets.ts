import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { IronClawError } from '../core/errors.js';
import { PACKAGE_FIX, packageRoot } from '../host/package-files.js';

/** The page's files and their types: everything the browser loads, nothing from elsewhere. */
export const PAGE_FILES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'dashboard.css': 'text/css; charset=utf-8',
  'dashboard.js': 'text/javascript; charset=utf-8',
  'icon.svg': 'image/svg+xml',
};

export interface PageFile {
  body: Buffer;
  type: string;
}

let loaded: Promise<Map<string, PageFile>> | undefined;

/**
 * The page's files, read once. An installed package has them in dist/dashboard (the build copies
 * them there); a clone of the repository that has not been built serves them from the source.
 */
export function pageFiles(): Promise<Map<string, PageFile>> {
  loaded ??= (async () => {
    const root = await packageRoot();
    for (const dir of [join(root, 'dist', 'dashboard'), join(root, 'src', 'dashboard', 'page')]) {
      const files = await readAll(dir).catch(() => undefined);
      if (files) return files;
    }
    throw new IronClawError(
      'INTERNAL',
      `the dashboard's page is missing from the ironclaw package at ${root} (dist/dashboard/); ${PACKAGE_FIX}`,
    );
  })();
  loaded.catch(() => (loaded = undefined));
  return loaded;
}

async function readAll(dir: string): Promise<Map<string, PageFile>> {
  const files = new Map<string, PageFile>();
  for (const [name, type] of Object.entries(PAGE_FILES))
    files.set(name, { body: await readFile(join(dir, name)), type });
  return files;
}
