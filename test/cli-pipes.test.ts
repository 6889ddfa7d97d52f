// The CLI's output piped into a reader that goes away early (`| head -1`) ends the CLI as it
// ends coreutils: quietly, exit status 141 (128 + SIGPIPE), no stack trace.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BIN, freshStateDir, runCli } from './helpers/cli.js';

let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  env = { ...process.env, IRONCLAW_STATE_DIR: await freshStateDir(), IRONCLAW_POOL_SIZE: '0' };
  expect(await runCli(['sandbox', 'create', '--id', 'piped'], { env })).toMatchObject({ code: 0 });
});

afterAll(async () => {
  await runCli(['daemon', '--stop'], { env });
});

/** Runs the CLI, reads its first chunk of stdout, then closes the pipe as `head -1` does. */
function headOne(args: string[]): Promise<{ code: number | null; first: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let first = '';
    let stderr = '';
    child.stdout.once('data', (chunk: Buffer) => {
      first = chunk.toString().split('\n')[0] ?? '';
      child.stdout.destroy();
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, first, stderr }));
  });
}

describe('a reader that goes away', () => {
  test.each([
    ['sandbox exec', ['sandbox', 'exec', 'piped', '--', 'seq', '1', '1000000'], '1'],
    ['exec --json', ['exec', '--json', '--', 'seq', '1', '300000'], '{"exitCode":0'],
  ])('ends %s quietly with status 141', async (_, args, first) => {
    const result = await headOne(args);
    expect(result.first.startsWith(first), result.first).toBe(true);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(141);
  });
});
