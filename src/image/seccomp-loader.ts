import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SECCOMP_LOADER_C } from '../protocol/guest-seccomp-native.js';
import { buildOnce, inputHash } from './cache.js';
import { type Progress, runTool } from './tools.js';

/** The C compiler the image build asks for the native loader (cc, or IRONCLAW_CC). */
const CC = process.env.IRONCLAW_CC ?? 'cc';

/**
 * The native seccomp loader (protocol/guest-seccomp-native.ts) compiled for the image, cached
 * under a hash of its source; undefined when this host cannot compile it (no C compiler, or no
 * static C library), in which case the image keeps only the python3 loader and says so.
 */
export async function nativeSeccompLoader(
  cacheDir: string,
  progress: Progress,
): Promise<Buffer | undefined> {
  const dir = join(cacheDir, 'seccomp-loader', inputHash({ source: SECCOMP_LOADER_C, cc: CC }));
  try {
    await buildOnce(dir, async (staging) => {
      const source = join(staging, 'seccomp-exec.c');
      await writeFile(source, SECCOMP_LOADER_C);
      await runTool(CC, ['-static', '-O2', '-o', join(staging, 'seccomp-exec'), source]);
    });
  } catch (error) {
    progress(
      `seccomp loader: cannot compile the native loader (${(error as Error).message}); VM commands start through the python3 loader, which is slower under TCG`,
    );
    return undefined;
  }
  return readFile(join(dir, 'seccomp-exec'));
}
