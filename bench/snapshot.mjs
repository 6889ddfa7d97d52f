// A private copy of the built package for the length of one benchmark. Others on this machine
// run `npm test`, which deletes and rebuilds dist/ in place: without a copy, a run that starts
// a box during their rebuild fails (ERR_MODULE_NOT_FOUND, no guest.mjs), and a run after it
// measures their code instead of the code the benchmark built. The copy sits under
// bench/results/ (git-ignored) so that dist/index.js still resolves zod from node_modules/.
import { createHash } from 'node:crypto';
import { access, cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { URL, fileURLToPath } from 'node:url';

const ROOT = new URL('../', import.meta.url);
const PARTS = ['package.json', 'bin', 'dist', 'box', 'policies'];
/** Files a box or the CLI needs: checked after copying, in case a rebuild was in progress. */
const REQUIRED = [
  'dist/index.js',
  'dist/guest.mjs',
  'dist/egress-bench.mjs',
  'dist/cli/main.cjs',
  'bin/ironclaw.cjs',
  'box/etc/passwd',
];

/**
 * @param {URL} parent directory to make the copy in
 * @returns {Promise<{ root: string, digest: string, remove: () => Promise<void> }>}
 */
export async function snapshotPackage(parent) {
  const root = await mkdtemp(fileURLToPath(new URL('snapshot-', parent)));
  const remove = () => rm(root, { recursive: true, force: true });
  try {
    await Promise.all(
      PARTS.map((part) => cp(new URL(part, ROOT), `${root}/${part}`, { recursive: true })),
    );
    const missing = (
      await Promise.all(
        REQUIRED.map((file) =>
          access(`${root}/${file}`).then(
            () => undefined,
            () => file,
          ),
        ),
      )
    ).filter((file) => file !== undefined);
    if (missing.length > 0) {
      throw new Error(
        `dist/ was incomplete while it was copied (missing ${missing.join(', ')}); someone may be rebuilding it, run the benchmark again`,
      );
    }
    // Which build was measured, so two result files can be told apart.
    const hash = createHash('sha256');
    for (const file of REQUIRED.slice(0, 3)) hash.update(await readFile(`${root}/${file}`));
    return { root, digest: hash.digest('hex').slice(0, 16), remove };
  } catch (error) {
    await remove();
    throw error;
  }
}
