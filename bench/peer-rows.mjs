// Peers' one-shot sandboxes, timed like the CLI rows (spawn to exit, interleaved with them):
// srt (@anthropic-ai/sandbox-runtime: `srt 'true'`) and Codex (@openai/codex:
// `codex sandbox -- true`). Each is installed with npm into a directory under the system's
// temporary directory, never into this project's dependencies, and reused by later runs. A peer
// that cannot run here is no row: the report says why.
import { execFile } from 'node:child_process';
import { access, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadSrtProxy } from './srt-proxy.mjs';

const run = promisify(execFile);

/**
 * @typedef {{ id: string, name: string, informational: boolean, command: string[] }} PeerRow
 * @typedef {{ id: string, name: string, reason: string }} MissingPeer
 */

/**
 * The peers' rows, each checked by one run first; those that fail say why.
 * @param {(message: string) => void} progress
 * @returns {Promise<{ rows: PeerRow[], missing: MissingPeer[] }>}
 */
export async function peerRows(progress) {
  /** @type {PeerRow[]} */
  const rows = [];
  /** @type {MissingPeer[]} */
  const missing = [];
  const srt = await loadSrtProxy(progress);
  const candidates = [
    'missing' in srt
      ? { id: 'peer-srt', name: "peer: srt 'true'", reason: srt.missing }
      : {
          id: 'peer-srt',
          name: "peer: srt 'true'",
          command: [join(tmpdir(), 'ironclaw-bench-srt', 'node_modules', '.bin', 'srt'), 'true'],
        },
    await installed('@openai/codex', 'ironclaw-bench-codex', 'codex', progress).then((bin) =>
      typeof bin === 'string'
        ? {
            id: 'peer-codex',
            name: 'peer: codex sandbox -- true',
            command: [bin, 'sandbox', '--', 'true'],
          }
        : { id: 'peer-codex', name: 'peer: codex sandbox -- true', reason: bin.missing },
    ),
  ];
  for (const candidate of candidates) {
    if (!('command' in candidate)) {
      missing.push(candidate);
      continue;
    }
    const [file, ...args] = /** @type {[string, ...string[]]} */ (candidate.command);
    try {
      // Run from the temporary directory: a peer may look for a project in its working directory.
      await run(file, args, { timeout: 120_000, cwd: tmpdir() });
      rows.push({ ...candidate, informational: true });
    } catch (error) {
      const why = /** @type {{ stderr?: string, message: string }} */ (error);
      const said = (why.stderr || why.message).trim().split('\n').at(-1) ?? '';
      missing.push({ id: candidate.id, name: candidate.name, reason: `it fails here: ${said}` });
    }
  }
  return { rows, missing };
}

/**
 * The path of `bin` from `pkg`, installed into a temporary directory first if it is not there.
 * @param {string} pkg @param {string} dirName @param {string} bin
 * @param {(message: string) => void} progress
 * @returns {Promise<string | { missing: string }>}
 */
async function installed(pkg, dirName, bin, progress) {
  const dir = join(tmpdir(), dirName);
  const path = join(dir, 'node_modules', '.bin', bin);
  const present = await access(path).then(
    () => true,
    () => false,
  );
  if (present) return path;
  progress(`installing ${pkg} into ${dir} (not into the project)`);
  await mkdir(dir, { recursive: true });
  try {
    await run('npm', ['install', '--prefix', dir, '--no-save', '--no-audit', '--no-fund', pkg], {
      timeout: 300_000,
    });
    return path;
  } catch (error) {
    const why = /** @type {{ stderr?: string, message: string }} */ (error);
    return {
      missing: `npm install ${pkg} failed: ${(why.stderr || why.message).trim().split('\n').at(-1)}`,
    };
  }
}
