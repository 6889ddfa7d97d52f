import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { BIN, REPO } from './helpers/cli.js';

/**
 * `ironclaw exec` is measured against node's own start-up (npm run bench): what its start-up
 * loads is part of the product. Drivers other than bwrap, the daemon client, MCP and the image
 * builder load on demand; this keeps a static import from dragging them back in unnoticed.
 */
function loadedBuiltins(args: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const preload = join(REPO, 'test', 'fixtures', 'report-loaded-builtins.cjs');
    const child = spawn(process.execPath, ['--require', preload, BIN, ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      const line = /^LOADED (.*)$/m.exec(stderr)?.[1];
      if (code !== 0 || line === undefined) reject(new Error(`exit ${code}: ${stderr}`));
      else resolve(JSON.parse(line) as string[]);
    });
  });
}

test('a one-shot bwrap run loads no crypto, compression or HTTP modules', async () => {
  const loaded = await loadedBuiltins(['exec', '--', 'true']);
  expect(loaded).toContain('child_process');
  for (const heavy of ['crypto', 'zlib', 'http', 'https', 'http2', 'worker_threads']) {
    expect(loaded, `ironclaw exec loaded node:${heavy}`).not.toContain(heavy);
  }
});
